"""The decoded copy of an image folder on disk, built once per host and shared by its workers.

A cache entry is a directory under the cache folder, named by a key of the folder's listing
(paths, sizes, modification times), the resolution, the channels and the validation split::

    <cache>/<key>/images.npy   uint8 (N, H, W, C): the training images, then the validation ones,
                               each part in a fixed random order
    <cache>/<key>/labels.npy   int64 (N,), in the same order
    <cache>/<key>/order.npy    int64 (N,): each stored image's index in the folder's listing
    <cache>/<key>/meta.json    counts, shape, and the training images' channel mean and std

The training part is stored shuffled so that a data set larger than memory can be streamed in
large contiguous chunks (`worker.trainer.disk_images`) and still give batches of mixed classes;
the statistics are computed while decoding, so opening a cache never reads its images.

Building writes the images one block at a time with plain file writes (never the whole set in
memory, never mapped: a worker's resident memory stays small while it decodes a data set larger
than its memory) into a temporary directory renamed into place when complete. An exclusive lock
file (`fcntl.flock`) beside the entry makes the workers of one host decode a folder once: the
others wait for it and open what it wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker.trainer.stratified import SPLIT_SEED, stratified_split

CACHE_VERSION = 2
PROGRESS_EVERY_S = 5.0
#: Images decoded (and written) per block: bounds the memory a decode holds.
DECODE_BLOCK = 512
log = logging.getLogger("hpadvisor.worker")

#: `progress(done, total)`, called every `PROGRESS_EVERY_S` seconds and at the end.
Progress = Callable[[int, int], None]
#: Who else hears of a decode's progress in this context, as (done, total, images per second):
#: a worker writes it into the job's progress (`decode_listener`).
_LISTENER: ContextVar[Callable[[int, int, float], None] | None] = ContextVar(
    "hpadvisor_decode_listener", default=None)


@contextlib.contextmanager
def decode_listener(listener: Callable[[int, int, float], None]) -> Iterator[None]:
    """Within the block, every decode of this context also reports to `listener`."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


def default_cache_dir() -> Path:
    """Where decoded image folders are cached when the caller names no place:
    ~/.cache/hpadvisor/folders."""
    return Path.home() / ".cache" / "hpadvisor" / "folders"


@dataclass(frozen=True)
class FolderCache:
    """One complete cache entry (see the module): where its files are and what they hold."""

    directory: Path
    count: int
    num_train: int
    shape: tuple[int, int, int]  # (height, width, channels) of one stored image
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def images_file(self) -> Path:
        return self.directory / "images.npy"

    @property
    def image_bytes(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """The size of all decoded images."""
        return self.count * self.image_bytes

    def data_offset(self) -> int:
        """Where the first image starts in images.npy (after the .npy header)."""
        with self.images_file.open("rb") as handle:
            version = np.lib.format.read_magic(handle)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            read_header(handle)
            return handle.tell()

    def labels(self) -> np.ndarray:
        return np.load(self.directory / "labels.npy")

    def order(self) -> np.ndarray:
        return np.load(self.directory / "order.npy")

    def read_all(self) -> np.ndarray:
        """Every image, into memory: (N, H, W, C) uint8, in stored order."""
        return np.load(self.images_file)

    @classmethod
    def open(cls, directory: Path) -> FolderCache | None:
        """The entry at `directory`, or None when there is none complete of this version."""
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("version") != CACHE_VERSION:
            return None
        return cls(directory, int(meta["count"]), int(meta["num_train"]),
                   (int(meta["shape"][0]), int(meta["shape"][1]), int(meta["shape"][2])),
                   tuple(meta["mean"]), tuple(meta["std"]))


def cache_key(path: Path, samples: list[tuple[str, int]], channels: int, size: int,
              val_fraction: float) -> str:
    """What names a folder's cache: its listing (files, labels, sizes, modification times), the
    resolution, the channels and the split."""
    digest = hashlib.sha256(
        f"{path.resolve()}|{channels}|{size}|{val_fraction!r}|{SPLIT_SEED}|{CACHE_VERSION}"
        .encode())
    for file, label in samples:
        stat = os.stat(file)
        digest.update(f"{os.path.relpath(file, path)}|{label}|{stat.st_size}|"
                      f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def stored_order(labels: np.ndarray, val_fraction: float) -> tuple[np.ndarray, int]:
    """(listing index of each stored image, how many are training images): the stratified
    split's training images in a fixed random order, then its validation images likewise."""
    train, val = stratified_split(labels, val_fraction)
    rng = np.random.default_rng(SPLIT_SEED)
    return np.concatenate([train[rng.permutation(len(train))],
                           val[rng.permutation(len(val))]]), len(train)


def folder_cache(
    cache_dir: Path, key: str, samples: list[tuple[str, int]], val_fraction: float,
    shape: tuple[int, int, int], decode: Callable[[str], np.ndarray],
    progress: Progress | None = None,
) -> FolderCache:
    """The cache entry `key` under `cache_dir`, built first (once per host, under its lock)
    when it does not exist; `decode(file)` gives one image of `shape`."""
    directory = cache_dir / key
    cached = FolderCache.open(directory)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / f"{key}.lock", key):
        cached = FolderCache.open(directory)  # built by another worker while this one waited
        if cached is not None:
            return cached
        return _build(directory, samples, val_fraction, shape, decode, progress)


@contextlib.contextmanager
def _locked(lock_file: Path, key: str) -> Iterator[None]:
    with lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is decoding image folder %s; waiting for it", key)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(directory: Path, samples: list[tuple[str, int]], val_fraction: float,
           shape: tuple[int, int, int], decode: Callable[[str], np.ndarray],
           progress: Progress | None) -> FolderCache:
    listing_labels = np.array([label for _, label in samples], dtype=np.int64)
    order, num_train = stored_order(listing_labels, val_fraction)
    partial = directory.with_name(f"{directory.name}.{os.getpid()}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    try:
        mean, std = _decode_into(partial / "images.npy", [samples[i][0] for i in order],
                                 num_train, shape, decode, progress)
        np.save(partial / "labels.npy", listing_labels[order])
        np.save(partial / "order.npy", order)
        (partial / "meta.json").write_text(json.dumps({
            "version": CACHE_VERSION, "count": len(order), "num_train": num_train,
            "shape": list(shape), "mean": mean, "std": std}))
        shutil.rmtree(directory, ignore_errors=True)  # an entry of an older version
        partial.rename(directory)
        log.info("decoded %d images into the cache %s in %.1f s", len(order), directory,
                 time.monotonic() - started)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    built = FolderCache.open(directory)
    if built is None:
        raise OSError(f"the image cache {directory} could not be read back after writing it")
    return built


def _decode_into(file: Path, files: list[str], num_train: int, shape: tuple[int, int, int],
                 decode: Callable[[str], np.ndarray],
                 progress: Progress | None) -> tuple[list[float], list[float]]:
    """Decode `files` in threads, a block at a time, appending each block to the .npy `file`;
    the per-channel mean and std (in [0, 1] units) of the first `num_train` images, exact, from
    per-channel histograms of the pixel values."""
    total = len(files)
    channels = shape[2]
    histograms = np.zeros((channels, 256), dtype=np.int64)
    started = last = time.monotonic()
    with file.open("wb") as handle, ThreadPoolExecutor(
            max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": "|u1", "fortran_order": False, "shape": (total, *shape)})
        for start in range(0, total, DECODE_BLOCK):
            block = np.stack(list(pool.map(decode, files[start : start + DECODE_BLOCK])))
            handle.write(block.tobytes())
            training = block[: max(0, num_train - start)].reshape(-1, channels)
            for channel in range(channels):
                histograms[channel] += np.bincount(training[:, channel], minlength=256)
            done = start + len(block)
            if time.monotonic() - last >= PROGRESS_EVERY_S or done == total:
                last = time.monotonic()
                _report(progress, done, total, done / max(last - started, 1e-9))
    values = np.arange(256, dtype=np.float64) / 255.0
    count = max(1, int(histograms[0].sum()))
    mean = histograms @ values / count
    variance = histograms @ np.square(values) / count - np.square(mean)
    return mean.tolist(), np.sqrt(np.clip(variance, 0.0, None)).clip(min=1e-6).tolist()


def _report(progress: Progress | None, done: int, total: int, rate: float) -> None:
    if progress is not None:
        progress(done, total)
    else:
        log.info("images decoded %d/%d (%.0f images/s)", done, total, rate)
    listener = _LISTENER.get()
    if listener is not None:
        listener(done, total, rate)
