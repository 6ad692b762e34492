"""Data sets for the trial runner: a registry of profiles and loaders.

A data set is registered as a cheap `DatasetProfile` (what the API shows and the advisor reasons
about) plus a loader that builds a `LoadedDataset`: the whole split data set as NCHW tensors on
the CPU (uint8, or float in [0, 1]) with the per-channel mean and standard deviation of its
training images; the trial normalises each batch on the device, after the augmentation policy
(which works on uint8 images) and before the float ops.

Built-ins:

* ``digits`` - scikit-learn's 8x8 handwritten digits, upsampled once to 32x32 (bilinear), one
  channel, fixed stratified 80/20 split (seed 0). Mirroring changes a digit, so no flips.
* ``shapes`` - generated coloured geometric shapes (10 classes) at 32x32 RGB, see `shapes.py`.

User data sets come from a worker config file, see `register_datasets_from_config`. An image
folder (listed as torchvision's `ImageFolder` lists it) is decoded once (PIL, in threads) into
a uint8 cache file on disk and
re-opened from it afterwards; the cache is keyed by the folder's listing (paths, sizes,
modification times), the resolution and the channels, so a changed folder is decoded again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
import tomllib
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from worker.dataset_profile import DatasetProfile, check_dataset_name

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
DEFAULT_VAL_FRACTION = 0.2
SPLIT_SEED = 0
#: An image folder without an image_size is resized to its first image's larger side, at most.
DEFAULT_FOLDER_SIZE = 224
PROGRESS_EVERY_S = 5.0
CACHE_VERSION = 1
log = logging.getLogger("hpadvisor.worker")


@dataclass
class LoadedDataset:
    """A split data set on the CPU: NCHW images and int64 labels.

    Images are uint8 (0-255) or float in [0, 1] with ``mean`` and ``std`` per channel in [0, 1]
    units (computed from the training images when not given), and the trial normalises each
    batch; or, with ``mean`` None, float images already normalised (no augmentation policy can
    run on those).
    """

    profile: DatasetProfile
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.x_train.dtype == torch.uint8 and self.mean is None:
            self.mean, self.std = channel_stats(self.x_train)

    @property
    def normalised(self) -> bool:
        """True when the images are already normalised floats."""
        return self.mean is None


@dataclass(frozen=True)
class _Entry:
    profile: DatasetProfile
    loader: Callable[[], LoadedDataset]


_REGISTRY: dict[str, _Entry] = {}


def register_dataset(
    name: str, loader: Callable[[], LoadedDataset], profile: DatasetProfile
) -> None:
    """Register (or replace) a data set under `name`; `loader` runs on first `load_dataset`."""
    check_dataset_name(name, "name")
    if profile.name != name:
        raise ValueError(f"name: profile.name {profile.name!r} differs from {name!r}")
    _REGISTRY[name] = _Entry(profile, loader)
    load_dataset.cache_clear()


def dataset_names() -> list[str]:
    """Names of all registered data sets, sorted."""
    return sorted(_REGISTRY)


def dataset_profile(name: str) -> DatasetProfile:
    """The profile of a registered data set; never loads or generates the data."""
    return _entry(name).profile


@functools.lru_cache(maxsize=16)
def load_dataset(name: str) -> LoadedDataset:
    """Load a registered data set (cached per process)."""
    return _entry(name).loader()


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"dataset: unknown data set {name!r}; registered: {', '.join(dataset_names())}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Shared helpers: split and normalise.


def stratified_split(labels: np.ndarray, val_fraction: float, seed: int = SPLIT_SEED):
    """Indices (train, val) with about `val_fraction` of every class in val, deterministic."""
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        members = members[rng.permutation(len(members))]
        n_val = _class_val_count(len(members), val_fraction)
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    return np.sort(np.concatenate(train_parts)), np.sort(np.concatenate(val_parts))


def _class_val_count(class_size: int, val_fraction: float) -> int:
    if class_size < 2:
        return 0
    return int(min(class_size - 1, max(1, round(class_size * val_fraction))))


def split_sizes(class_sizes: Sequence[int], val_fraction: float) -> tuple[int, int]:
    """(num_train, num_val) that `stratified_split` gives for these class sizes."""
    num_val = sum(_class_val_count(size, val_fraction) for size in class_sizes)
    return sum(class_sizes) - num_val, num_val


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[tuple[float, ...],
                                                              tuple[float, ...]]:
    """Per-channel mean and standard deviation in [0, 1] units (uint8 images are / 255),
    accumulated in float64 chunks so that a large uint8 set is never copied as floats whole."""
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].double() / scale
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = images.numel() / images.shape[1]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def normalise_split(
    profile: DatasetProfile, images: Tensor, labels: Tensor, train_idx, val_idx
) -> LoadedDataset:
    """Split NCHW images (uint8, or float in [0, 1]); the statistics come from the train part."""
    x_train, x_val = images[train_idx].contiguous(), images[val_idx].contiguous()
    if x_train.is_floating_point():
        x_train, x_val = x_train.float(), x_val.float()
    mean, std = channel_stats(x_train)
    return LoadedDataset(
        profile=profile,
        x_train=x_train,
        y_train=labels[train_idx].long().contiguous(),
        x_val=x_val,
        y_val=labels[val_idx].long().contiguous(),
        mean=mean,
        std=std,
    )


def resize_images(images: Tensor, size: int) -> Tensor:
    """Bilinear (antialiased) resize of an NCHW batch to size x size, keeping the dtype (uint8
    stays uint8); a no-op when already that size."""
    if images.shape[-2:] == (size, size):
        return images
    if images.dtype == torch.uint8:
        resized = F.interpolate(images.float(), size=(size, size), mode="bilinear",
                                align_corners=False, antialias=True)
        return resized.round_().clamp_(0, 255).to(torch.uint8)
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


# ---------------------------------------------------------------------------------------------
# Built-in: digits.

DIGITS_PROFILE = DatasetProfile(
    name="digits",
    num_train=1437,
    num_val=360,
    num_classes=10,
    image_size=32,
    channels=1,
    horizontal_flip_ok=False,
    description="scikit-learn handwritten digits (8x8 upsampled to 32x32), stratified 80/20",
)


def _load_digits() -> LoadedDataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = resize_images(images, DIGITS_PROFILE.image_size)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=bunch.target, random_state=0
    )
    return normalise_split(DIGITS_PROFILE, images, labels, train_idx, val_idx)


# ---------------------------------------------------------------------------------------------
# Built-in: shapes.

SHAPES_PROFILE = DatasetProfile(
    name="shapes",
    num_train=5000,
    num_val=1000,
    num_classes=10,
    image_size=32,
    channels=3,
    horizontal_flip_ok=True,
    description="generated coloured shapes (10 classes) on noisy cluttered backgrounds, 32x32 RGB",
)


def _load_shapes() -> LoadedDataset:
    from worker.trainer.shapes import generate_shapes

    total = SHAPES_PROFILE.num_train + SHAPES_PROFILE.num_val
    images, labels = generate_shapes(total, seed=0, image_size=SHAPES_PROFILE.image_size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels)
    train_idx = np.arange(SHAPES_PROFILE.num_train)
    val_idx = np.arange(SHAPES_PROFILE.num_train, total)
    return normalise_split(SHAPES_PROFILE, x, y, train_idx, val_idx)


register_dataset("digits", _load_digits, DIGITS_PROFILE)
register_dataset("shapes", _load_shapes, SHAPES_PROFILE)


# ---------------------------------------------------------------------------------------------
# User data sets from a worker config file.


def register_datasets_from_config(path: str | Path) -> list[str]:
    """Register the data sets listed in a worker config file (JSON or TOML); return their names.

    The file holds a list of entries, either at the top level (JSON) or under ``datasets``::

        [[datasets]]
        name = "leaves"
        path = "/data/leaves"          # relative paths are relative to the config file
        format = "folder"              # "npz" (arrays x and y) or "folder" (one folder per class)
        horizontal_flip_ok = true
        image_size = 64                # optional: resize to image_size x image_size (default:
                                       # the first image's larger side, at most 224)
        val_fraction = 0.2             # optional, stratified split with seed 0

    Profiles are computed from file headers and directory listings; images load on first use.
    """
    path = Path(path)
    entries = _read_config_entries(path)
    specs = [_parse_entry(entry, index, path.parent) for index, entry in enumerate(entries)]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"datasets[].name: {spec.name!r} appears more than once")
        seen.add(spec.name)
    for spec in specs:
        profile = spec.profile()
        register_dataset(spec.name, functools.partial(spec.load, profile), profile)
    return [spec.name for spec in specs]


def _read_config_entries(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot parse worker config: {error}") from error
    entries = document.get("datasets", []) if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ValueError(f"datasets: {path} must hold a list of data set entries")
    return entries


@dataclass(frozen=True)
class _UserDatasetSpec:
    name: str
    path: Path
    format: str
    horizontal_flip_ok: bool
    image_size: int | None
    val_fraction: float

    def profile(self) -> DatasetProfile:
        if self.format == "npz":
            size, channels, labels = _npz_summary(self.path)
        else:
            size, channels, labels = _folder_summary(self.path)
        num_train, num_val = split_sizes(np.bincount(labels).tolist(), self.val_fraction)
        return DatasetProfile(
            name=self.name,
            num_train=num_train,
            num_val=num_val,
            num_classes=int(labels.max()) + 1,
            image_size=self.image_size or size,
            channels=channels,
            horizontal_flip_ok=self.horizontal_flip_ok,
            description=f"user data set ({self.format}) at {self.path}",
        )

    def load(self, profile: DatasetProfile) -> LoadedDataset:
        if self.format == "npz":
            images, labels = _read_npz(self.path)
        else:
            images, labels = read_image_folder(self.path, profile.channels, profile.image_size)
        images = resize_images(images, profile.image_size)
        train_idx, val_idx = stratified_split(labels.numpy(), self.val_fraction)
        return normalise_split(profile, images, labels, train_idx, val_idx)


def _parse_entry(entry: Any, index: int, base: Path) -> _UserDatasetSpec:
    where = f"datasets[{index}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each entry must be a table/object")
    name = check_dataset_name(entry.get("name"), f"{where}.name")
    raw_path = entry.get("path")
    if not isinstance(raw_path, str) or not raw_path:
        raise ValueError(f"{where}.path: a path to the data is required")
    data_path = (base / raw_path).expanduser()
    fmt = entry.get("format")
    if fmt not in ("npz", "folder"):
        raise ValueError(f"{where}.format: must be 'npz' or 'folder', got {fmt!r}")
    if not data_path.exists():
        raise ValueError(f"{where}.path: {data_path} does not exist")
    flip_ok = entry.get("horizontal_flip_ok")
    if not isinstance(flip_ok, bool):
        raise ValueError(f"{where}.horizontal_flip_ok: must be true or false")
    image_size = entry.get("image_size")
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or not image_size >= 4
    ):
        raise ValueError(f"{where}.image_size: must be an integer >= 4, got {image_size!r}")
    val_fraction = entry.get("val_fraction", DEFAULT_VAL_FRACTION)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float) or not (
        0.0 < val_fraction < 1.0
    ):
        raise ValueError(f"{where}.val_fraction: must be a number in (0, 1), got {val_fraction!r}")
    return _UserDatasetSpec(name, data_path, fmt, flip_ok, image_size, float(val_fraction))


def _npz_summary(path: Path) -> tuple[int, int, np.ndarray]:
    """(image size, channels, labels) of an npz file, reading only x's header and y."""
    with zipfile.ZipFile(path) as archive, archive.open("x.npy") as member:
        version = np.lib.format.read_magic(member)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(member)
    with np.load(path) as arrays:
        labels = _check_labels(arrays["y"], shape[0], path)
    _check_image_shape(shape, path)
    channels = shape[3] if len(shape) == 4 else 1
    return max(shape[1], shape[2]), channels, labels


def _check_image_shape(shape: Sequence[int], path: Path) -> None:
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3, 4)):
        raise ValueError(f"path: {path}: x must have shape (N, H, W) or (N, H, W, C), got {shape}")


def _check_labels(labels: np.ndarray, count: int, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"path: {path}: y must be {count} integer labels")
    if labels.min() < 0:
        raise ValueError(f"path: {path}: labels must be >= 0")
    return labels.astype(np.int64)


def _read_npz(path: Path) -> tuple[Tensor, Tensor]:
    with np.load(path) as arrays:
        x, y = arrays["x"], arrays["y"]
    images = torch.from_numpy(np.ascontiguousarray(x))
    images = images.unsqueeze(-1) if images.ndim == 3 else images
    images = images.permute(0, 3, 1, 2).contiguous()
    if x.dtype != np.uint8:
        images = images.float()
    return images, torch.from_numpy(y.astype(np.int64))


def _folder_files(path: Path) -> list[tuple[str, int]]:
    """(file, class index) of every image, classes in sorted folder order: torchvision's
    `ImageFolder` listing (`find_classes`, `make_dataset`), so both see the same data set."""
    from torchvision.datasets.folder import find_classes, make_dataset

    try:
        _, class_to_idx = find_classes(str(path))
    except FileNotFoundError:
        raise ValueError(f"path: {path} has no class subfolders") from None
    samples = make_dataset(str(path), class_to_idx, extensions=tuple(IMAGE_SUFFIXES),
                           allow_empty=True)
    if not samples:
        raise ValueError(f"path: {path} holds no images")
    return samples


def _folder_summary(path: Path) -> tuple[int, int, np.ndarray]:
    from PIL import Image

    samples = _folder_files(path)
    with Image.open(samples[0][0]) as image:
        width, height = image.size
        channels = 1 if image.mode in ("1", "L", "I", "F", "I;16") else 3
    labels = np.array([label for _, label in samples], dtype=np.int64)
    return min(max(width, height), DEFAULT_FOLDER_SIZE), channels, labels


def cache_dir() -> Path:
    """Where decoded image folders are cached: $HPADVISOR_CACHE_DIR, else
    ~/.cache/hpadvisor/folders."""
    configured = os.environ.get("HPADVISOR_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "hpadvisor" / "folders"


def _listing_key(path: Path, samples: list[tuple[str, int]], channels: int, size: int) -> str:
    digest = hashlib.sha256(f"{path.resolve()}|{channels}|{size}|{CACHE_VERSION}".encode())
    for file, label in samples:
        stat = os.stat(file)
        digest.update(f"{os.path.relpath(file, path)}|{label}|{stat.st_size}|"
                      f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _decode(file: str, channels: int, size: int) -> np.ndarray:
    """One image as a (size, size, channels) uint8 array, decoded by PIL as torchvision's
    `ImageFolder` does (its `pil_loader`; torchvision's own decoders are deprecated since 0.29).
    A large JPEG is decoded at a reduced scale first (PIL's ``draft``: DCT scaling, several
    times faster), then resized with antialiasing to size x size."""
    from PIL import Image

    with Image.open(file) as image:
        image.draft("L" if channels == 1 else "RGB", (size, size))
        image = image.convert("L" if channels == 1 else "RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0)
        array = np.asarray(image, dtype=np.uint8)
    return array.reshape(size, size, channels)


def read_image_folder(
    path: Path, channels: int, size: int, progress: Callable[[int, int], None] | None = None,
) -> tuple[Tensor, Tensor]:
    """Every image of a class-per-folder tree as uint8 NCHW at size x size, and its labels.

    The first call decodes the folder (threads; `progress(n, total)` every few seconds) and
    writes the result to `cache_dir()`; later calls re-open that file, until the folder's
    listing changes."""
    samples = _folder_files(path)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    key = _listing_key(path, samples, channels, size)
    cached = cache_dir() / f"{key}.npy"
    if cached.is_file():
        images = np.load(cached, mmap_mode="r")
        if images.shape == (len(samples), size, size, channels):
            return torch.from_numpy(np.array(images)).permute(0, 3, 1, 2), labels
    images = np.empty((len(samples), size, size, channels), dtype=np.uint8)
    report = progress or _log_progress
    started = last = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        decoded = pool.map(lambda file: _decode(file, channels, size), (f for f, _ in samples))
        for index, array in enumerate(decoded):
            images[index] = array
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                report(index + 1, len(samples))
    report(len(samples), len(samples))
    log.info("decoded %d images of %s in %.1f s", len(samples), path,
             time.monotonic() - started)
    _write_cache(cached, images)
    return torch.from_numpy(images).permute(0, 3, 1, 2), labels


def _log_progress(done: int, total: int) -> None:
    log.info("images decoded %d/%d", done, total)


def _write_cache(file: Path, images: np.ndarray) -> None:
    """Write atomically (a temporary file renamed); a cache that cannot be written is only
    logged: the next run decodes again."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(f".{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, images)
        partial.replace(file)
    except OSError as error:
        log.warning("cannot write the image cache %s: %s", file, error)
