"""Images that stay on disk: a part of a decoded folder cache, read on demand, and the epochs
streamed from it in large shuffled windows.

When a data set does not fit the worker's memory budget (`Settings.memory_budget`), its
training and validation images are `DiskImages` instead of tensors. Reads are positioned reads
(`os.preadv`) into buffers the trainer owns rather than a memory map: the kernel's page cache
still serves repeated reads, but the pages are not mapped into the worker, so its resident
memory is the buffers and nothing more, however large the file.

An epoch (`windows`) reads the training part in windows of about a quarter of the budget each:
the part is cut into chunks (each window holds at least `CHUNKS_PER_WINDOW` of them, so each
read is long and sequential), the chunks are drawn in a random order, and each window's images
are shuffled again on the device. The cache stores the training images in a random order once
(`worker.trainer.folder_cache`), so chunks hold mixed classes. The next window is read in a
thread while the current one trains; two window buffers are used in turn.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from worker.trainer.folder_cache import FolderCache

#: A window holds at least this many chunks (drawn from anywhere in the part): the shuffle.
CHUNKS_PER_WINDOW = 16
#: The share of the memory budget one window may take (two are held, with the batches).
WINDOW_SHARE = 0.25


@dataclass
class DiskImages:
    """Images ``[start, stop)`` of a folder cache as uint8 NCHW, read when asked.

    Indexing with a slice or an index tensor reads those images (``images[0:256]``,
    ``images[torch.tensor([3, 1])]``); `shape`, `dtype`, `ndim` and `len` answer as a tensor's
    would. `budget` is the memory the trainer may spend on this data in bytes: it sizes the
    windows of an epoch and the evaluation batches.
    """

    cache: FolderCache
    start: int
    stop: int
    budget: int
    _offset: int = field(init=False)
    _fd: int = field(init=False, default=-1)
    _buffers: list[Tensor] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self._offset = self.cache.data_offset()
        self._fd = os.open(self.cache.images_file, os.O_RDONLY)

    def __del__(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __len__(self) -> int:
        return self.stop - self.start

    def head(self, count: int) -> DiskImages:
        """The first `count` images of this part."""
        return DiskImages(self.cache, self.start, self.start + min(count, len(self)),
                          self.budget)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        height, width, channels = self.cache.shape
        return (len(self), channels, height, width)

    @property
    def ndim(self) -> int:
        return 4

    @property
    def dtype(self) -> torch.dtype:
        return torch.uint8

    @property
    def window_images(self) -> int:
        """Images per window (and the largest batch read at once) within the budget."""
        return max(1, int(self.budget * WINDOW_SHARE) // self.cache.image_bytes)

    def __getitem__(self, key: slice | Tensor) -> Tensor:
        if isinstance(key, slice):
            first, last, step = key.indices(len(self))
            if step != 1:
                raise ValueError("DiskImages: only contiguous slices are read")
            out = np.empty((max(0, last - first), *self.cache.shape), dtype=np.uint8)
            self.read_into(out, [(first, last)])
            return _nchw(torch.from_numpy(out))
        index = key.cpu().numpy()
        out = np.empty((len(index), *self.cache.shape), dtype=np.uint8)
        for row, image in enumerate(index):  # few images (a probe batch): one read each
            self.read_into(out[row : row + 1], [(int(image), int(image) + 1)])
        return _nchw(torch.from_numpy(out))

    def read_into(self, out: np.ndarray, ranges: list[tuple[int, int]]) -> int:
        """Read the images of each ``[first, last)`` range (positions in this part) one after
        another into `out` (NHWC uint8); how many were read."""
        row = 0
        image_bytes = self.cache.image_bytes
        for first, last in ranges:
            if not 0 <= first <= last <= len(self):
                raise IndexError(f"DiskImages: images {first}..{last} of {len(self)}")
            view = memoryview(out[row : row + last - first].reshape(-1))
            position = self._offset + (self.start + first) * image_bytes
            while len(view):
                read = os.preadv(self._fd, [view], position)
                if read == 0:
                    raise OSError(f"{self.cache.images_file} ends early: rebuild its cache")
                view, position = view[read:], position + read
            row += last - first
        return row

    def _window_buffers(self, images: int, pin: bool) -> list[Tensor]:
        """The two window buffers, allocated once and kept for every epoch (allocating them
        anew each epoch lets the allocator's heap grow)."""
        shape = (images, *self.cache.shape)
        if not self._buffers or self._buffers[0].shape != shape or (
                self._buffers[0].is_pinned() != pin):
            self._buffers = [torch.empty(shape, dtype=torch.uint8, pin_memory=pin)
                             for _ in range(2)]
        return self._buffers

    def windows(self, labels: Tensor, generator: torch.Generator,
                pin: bool = False) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch as windows of (uint8 NCHW images, labels) on the host, in a random chunk
        order (`generator`, a CPU generator); the next window is read while one is used, into
        the other of two buffers (pinned with `pin`, for fast copies to a GPU). A window's
        buffer is reused two windows later: copy or consume it before then."""
        count = len(self)
        window = min(count, self.window_images)
        chunk = max(1, window // CHUNKS_PER_WINDOW)
        per_window = max(1, window // chunk)
        starts = torch.randperm(-(-count // chunk), generator=generator).tolist()
        groups = [[(c * chunk, min(count, (c + 1) * chunk)) for c in starts[i : i + per_window]]
                  for i in range(0, len(starts), per_window)]
        buffers = self._window_buffers(per_window * chunk, pin)
        with ThreadPoolExecutor(max_workers=1) as reader:
            pending: Future[int] | None = None
            for turn, ranges in enumerate(groups):
                if pending is None:
                    pending = reader.submit(self.read_into, buffers[turn % 2].numpy(), ranges)
                read = pending.result()
                pending = (reader.submit(self.read_into, buffers[(turn + 1) % 2].numpy(),
                                         groups[turn + 1]) if turn + 1 < len(groups) else None)
                window_labels = torch.cat([labels[first:last] for first, last in ranges])
                yield _nchw(buffers[turn % 2][:read]), window_labels


def _nchw(images: Tensor) -> Tensor:
    """NHWC storage seen as NCHW (channels_last strides, no copy)."""
    return images.permute(0, 3, 1, 2)
