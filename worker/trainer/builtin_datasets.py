"""The data sets every worker has, registered by `worker.trainer.datasets`:

* ``digits`` - scikit-learn's 8x8 handwritten digits, upsampled once to 32x32 (bilinear), one
  channel, fixed stratified 80/20 split (seed 0). Mirroring changes a digit, so no flips.
* ``shapes`` - generated coloured geometric shapes (10 classes) at 32x32 RGB, see `shapes.py`.
"""

from __future__ import annotations

import numpy as np
import torch

from worker.dataset_profile import DatasetProfile
from worker.trainer.splits import LoadedDataset, normalise_split, resize_images

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


def load_digits() -> LoadedDataset:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = resize_images(images, DIGITS_PROFILE.image_size)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    train_idx, val_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=bunch.target, random_state=0
    )
    return normalise_split(DIGITS_PROFILE, images, labels, train_idx, val_idx)


def load_shapes() -> LoadedDataset:
    from worker.trainer.shapes import generate_shapes

    total = SHAPES_PROFILE.num_train + SHAPES_PROFILE.num_val
    images, labels = generate_shapes(total, seed=0, image_size=SHAPES_PROFILE.image_size)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(labels)
    train_idx = np.arange(SHAPES_PROFILE.num_train)
    val_idx = np.arange(SHAPES_PROFILE.num_train, total)
    return normalise_split(SHAPES_PROFILE, x, y, train_idx, val_idx)


#: (profile, loader) of each built-in.
BUILTIN_DATASETS = ((DIGITS_PROFILE, load_digits), (SHAPES_PROFILE, load_shapes))
