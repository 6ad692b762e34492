"""A user data set stored as an image folder (one subfolder per class), and its decode cache.

The folder is listed as torchvision's `ImageFolder` lists it and decoded once (PIL, in threads)
into a uint8 cache file on disk, then re-opened from that file; the cache is keyed by the
folder's listing (paths, sizes, modification times), the resolution and the channels, so a
changed folder is decoded again. Where the cache lives is the caller's `cache_dir` (None:
`default_cache_dir()`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: An image folder without an image_size is resized to its first image's larger side, at most.
DEFAULT_FOLDER_SIZE = 224
PROGRESS_EVERY_S = 5.0
CACHE_VERSION = 1
log = logging.getLogger("hpadvisor.worker")


def default_cache_dir() -> Path:
    """Where decoded image folders are cached when the caller names no place:
    ~/.cache/hpadvisor/folders."""
    return Path.home() / ".cache" / "hpadvisor" / "folders"


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


def folder_summary(path: Path) -> tuple[int, int, np.ndarray]:
    """(image size, channels, labels) of an image folder, from its listing and first image."""
    from PIL import Image

    samples = _folder_files(path)
    with Image.open(samples[0][0]) as image:
        width, height = image.size
        channels = 1 if image.mode in ("1", "L", "I", "F", "I;16") else 3
    labels = np.array([label for _, label in samples], dtype=np.int64)
    return min(max(width, height), DEFAULT_FOLDER_SIZE), channels, labels


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
    *, cache_dir: Path | None = None,
) -> tuple[Tensor, Tensor]:
    """Every image of a class-per-folder tree as uint8 NCHW at size x size, and its labels.

    The first call decodes the folder (threads; `progress(n, total)` every few seconds) and
    writes the result to `cache_dir` (None: `default_cache_dir()`); later calls re-open that
    file, until the folder's listing changes."""
    samples = _folder_files(path)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    key = _listing_key(path, samples, channels, size)
    cached = (default_cache_dir() if cache_dir is None else Path(cache_dir)) / f"{key}.npy"
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
