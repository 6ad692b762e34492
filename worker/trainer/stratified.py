"""Which images of a data set are for validation: a stratified split, the same every time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLIT_SEED = 0


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
