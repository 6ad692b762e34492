"""A user data set stored as an image folder (one subfolder per class).

The folder is listed as torchvision's `ImageFolder` lists it and decoded once (PIL, in threads)
into a uint8 cache on disk (`worker.trainer.folder_cache`: a file per folder, resolution,
channels and split, decoded again when the folder changes), under the caller's `cache_dir`
(None: `default_cache_dir()`). `load_folder` opens that cache as the trial's data set: in memory
when its images fit the memory budget, else as `DiskImages` streamed from the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from worker.dataset_profile import DatasetProfile
from worker.settings import default_memory_budget
from worker.trainer.disk_images import DiskImages
from worker.trainer.folder_cache import FolderCache, cache_key, default_cache_dir, folder_cache
from worker.trainer.splits import LoadedDataset

__all__ = ["decode_folder", "default_cache_dir", "folder_summary", "load_folder",
           "read_image_folder"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: An image folder without an image_size is resized to its first image's larger side, at most.
DEFAULT_FOLDER_SIZE = 224
log = logging.getLogger("hpadvisor.worker")


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


def decode_folder(path: Path, channels: int, size: int, val_fraction: float,
                  progress: Callable[[int, int], None] | None = None,
                  cache_dir: Path | None = None) -> FolderCache:
    """The folder's cache entry under `cache_dir` (None: `default_cache_dir()`), decoded first
    when there is none yet (once per host: see `worker.trainer.folder_cache`)."""
    samples = _folder_files(path)
    key = cache_key(path, samples, channels, size, val_fraction)
    return folder_cache(default_cache_dir() if cache_dir is None else Path(cache_dir), key,
                        samples, val_fraction, (size, size, channels),
                        lambda file: _decode(file, channels, size), progress)


def read_image_folder(
    path: Path, channels: int, size: int, progress: Callable[[int, int], None] | None = None,
    *, cache_dir: Path | None = None, val_fraction: float = 0.2,
) -> tuple[Tensor, Tensor]:
    """Every image of a class-per-folder tree as uint8 NCHW at size x size, and its labels, in
    the folder's listing order, in memory.

    The first call decodes the folder (threads; `progress(n, total)` every few seconds, else a
    log line with the rate) into its cache under `cache_dir`; later calls (and other processes
    of the host) re-open that cache, until the folder's listing changes."""
    cache = decode_folder(path, channels, size, val_fraction, progress, cache_dir)
    listing = np.argsort(cache.order())
    images = torch.from_numpy(cache.read_all()[listing]).permute(0, 3, 1, 2)
    return images, torch.from_numpy(cache.labels()[listing])


def load_folder(
    path: Path, profile: DatasetProfile, val_fraction: float, *, cache_dir: Path | None = None,
    memory_budget: int | None = None, progress: Callable[[int, int], None] | None = None,
) -> LoadedDataset:
    """The folder split as `profile` says (its channels and image size), from its cache.

    When the decoded images take more than `memory_budget` bytes (None: half of the memory
    available now), they stay on disk: the splits are `DiskImages`, streamed by the trainer
    in windows within the budget."""
    cache = decode_folder(path, profile.channels, profile.image_size, val_fraction, progress,
                          cache_dir)
    budget = default_memory_budget() if memory_budget is None else memory_budget
    labels = torch.from_numpy(cache.labels())
    train, val = slice(0, cache.num_train), slice(cache.num_train, cache.count)
    if cache.nbytes <= budget:
        images = torch.from_numpy(cache.read_all()).permute(0, 3, 1, 2)
        x_train, x_val = images[train], images[val]
    else:
        log.info("%s: %.0f MB of decoded images exceed the memory budget of %.0f MB; "
                 "streaming them from %s", profile.name, cache.nbytes / 2**20, budget / 2**20,
                 cache.directory)
        x_train = DiskImages(cache, 0, cache.num_train, budget)
        x_val = DiskImages(cache, cache.num_train, cache.count, budget)
    return LoadedDataset(profile=profile, x_train=x_train, y_train=labels[train],
                         x_val=x_val, y_val=labels[val], mean=cache.mean, std=cache.std)
