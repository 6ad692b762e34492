"""A data set as the trial trains on it, and the helpers that make one.

`LoadedDataset` is the whole split data set as NCHW tensors on the CPU (uint8, or float in
[0, 1]) with the per-channel mean and standard deviation of its training images; the trial
normalises each batch on the device, after the augmentation policy (which works on uint8
images) and before the float ops. The readers (`builtin_datasets`, `npz_file`, `image_folder`)
split with `stratified_split` and build the data set with `normalise_split`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from worker.dataset_profile import DatasetProfile
from worker.trainer.stratified import SPLIT_SEED, split_sizes, stratified_split

__all__ = ["SPLIT_SEED", "LoadedDataset", "channel_stats", "normalise_split", "resize_images",
           "split_sizes", "stratified_split"]

if TYPE_CHECKING:
    from worker.trainer.disk_images import DiskImages


@dataclass
class LoadedDataset:
    """A split data set on the CPU: NCHW images and int64 labels.

    Images are uint8 (0-255) or float in [0, 1] with ``mean`` and ``std`` per channel in [0, 1]
    units (computed from the training images when not given), and the trial normalises each
    batch; or, with ``mean`` None, float images already normalised (no augmentation policy can
    run on those). An image folder larger than the memory budget keeps its images on disk
    (`DiskImages`, uint8, statistics given); the labels are always tensors.
    """

    profile: DatasetProfile
    x_train: Tensor | DiskImages
    y_train: Tensor
    x_val: Tensor | DiskImages
    y_val: Tensor
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.x_train, Tensor) and self.x_train.dtype == torch.uint8 and (
                self.mean is None):
            self.mean, self.std = channel_stats(self.x_train)

    def training_subset(self, fraction: float) -> LoadedDataset:
        """This data set with `fraction` of its training images, the same ones every time: a
        stratified subset in memory; on disk the first images of the stored order, which the
        cache shuffled once (so they are a random subset, read as one run). The validation
        images and the statistics are the whole set's."""
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"data_fraction: must be in (0, 1], got {fraction!r}")
        if fraction == 1.0:
            return self
        if isinstance(self.x_train, Tensor):
            _, kept = stratified_split(self.y_train.numpy(), fraction, seed=SPLIT_SEED + 1)
            index = torch.from_numpy(kept)
            x_train, y_train = self.x_train[index], self.y_train[index]
        else:
            count = max(1, round(len(self.y_train) * fraction))
            x_train, y_train = self.x_train.head(count), self.y_train[:count]
        profile = self.profile.model_copy(update={"num_train": len(y_train)})
        return dataclasses.replace(self, profile=profile, x_train=x_train, y_train=y_train)

    @property
    def normalised(self) -> bool:
        """True when the images are already normalised floats."""
        return self.mean is None


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
