"""A user data set stored as one ``.npz`` file: images ``x`` of shape (N, H, W) or (N, H, W, C)
(uint8, or float in [0, 1]) and integer labels ``y``."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor


def npz_summary(path: Path) -> tuple[int, int, np.ndarray]:
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


def read_npz(path: Path) -> tuple[Tensor, Tensor]:
    """The images as NCHW (uint8 kept, anything else as float) and the labels as int64."""
    with np.load(path) as arrays:
        x, y = arrays["x"], arrays["y"]
    images = torch.from_numpy(np.ascontiguousarray(x))
    images = images.unsqueeze(-1) if images.ndim == 3 else images
    images = images.permute(0, 3, 1, 2).contiguous()
    if x.dtype != np.uint8:
        images = images.float()
    return images, torch.from_numpy(y.astype(np.int64))
