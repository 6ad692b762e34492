"""Batched data augmentation: every op transforms a whole NCHW batch with tensor operations.

All random draws come from the `torch.Generator` passed in (tensors) or from a
`numpy.random.Generator` (one scalar per batch: mixup/cutmix coefficients, the cutmix box), so
a run is reproducible for a given seed. Nothing here loops over images in Python.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: Random erasing draws the erased area and aspect ratio like Zhong et al. (2020) and timm.
ERASE_AREA = (0.02, 1.0 / 3.0)
ERASE_RATIO = (0.3, 1.0 / 0.3)


def _uniform(n: int, low: float, high: float, like: Tensor, gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen, device=like.device, dtype=like.dtype)


def _box_sizes(
    n: int, area: tuple[float, float], ratio: tuple[float, float], like: Tensor,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Per-sample (width, height) as fractions of the image, area and log-ratio uniform."""
    area_fraction = _uniform(n, area[0], area[1], like, gen)
    log_ratio = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), like, gen)
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area_fraction * aspect).clamp(max=1.0)
    height = torch.sqrt(area_fraction / aspect).clamp(max=1.0)
    return width, height


def random_resized_crop(
    images: Tensor, scale: tuple[float, float], ratio: tuple[float, float],
    gen: torch.Generator,
) -> Tensor:
    """Crop a random box of each image (area in `scale`, aspect in `ratio`) back to full size.

    One `affine_grid` + `grid_sample` (bilinear, border padding) for the whole batch. With
    scale and ratio both (1, 1) the output equals the input.
    """
    n = images.shape[0]
    width, height = _box_sizes(n, scale, ratio, images, gen)
    centre_x = (1.0 - width) * (2.0 * torch.rand(n, generator=gen, device=images.device) - 1.0)
    centre_y = (1.0 - height) * (2.0 * torch.rand(n, generator=gen, device=images.device) - 1.0)
    theta = torch.zeros(n, 2, 3, device=images.device, dtype=images.dtype)
    theta[:, 0, 0], theta[:, 0, 2] = width, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_horizontal_flip(images: Tensor, gen: torch.Generator, p: float = 0.5) -> Tensor:
    """Mirror each image left-right with probability `p`."""
    flip = torch.rand(images.shape[0], generator=gen, device=images.device) < p
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def one_hot_targets(labels: Tensor, num_classes: int, dtype: torch.dtype) -> Tensor:
    """Class indices as probability rows."""
    return F.one_hot(labels, num_classes).to(dtype)


def mixup(images: Tensor, targets: Tensor, alpha: float, rng: np.random.Generator):
    """Blend the batch with itself reversed (as timm does): lam ~ Beta(alpha, alpha)."""
    lam = float(rng.beta(alpha, alpha))
    mixed = images.mul(lam).add_(images.flip(0), alpha=1.0 - lam)
    return mixed, targets.mul(lam).add_(targets.flip(0), alpha=1.0 - lam)


def cutmix(images: Tensor, targets: Tensor, alpha: float, rng: np.random.Generator):
    """Paste one box from the reversed batch into every image; label mass = area ratio."""
    height, width = images.shape[-2:]
    lam = float(rng.beta(alpha, alpha))
    cut = math.sqrt(1.0 - lam)
    box_h, box_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    y0, y1 = max(cy - box_h // 2, 0), min(cy + box_h // 2, height)
    x0, x1 = max(cx - box_w // 2, 0), min(cx + box_w // 2, width)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images.flip(0)[:, :, y0:y1, x0:x1]
    kept = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
    return mixed, targets.mul(kept).add_(targets.flip(0), alpha=1.0 - kept)


def mix_batch(
    images: Tensor, targets: Tensor, mixup_alpha: float, cutmix_alpha: float,
    rng: np.random.Generator,
) -> tuple[Tensor, Tensor]:
    """Mixup or cutmix (one of them, with probability 0.5 each when both are on)."""
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < 0.5)
    if use_cutmix:
        return cutmix(images, targets, cutmix_alpha, rng)
    if mixup_alpha > 0:
        return mixup(images, targets, mixup_alpha, rng)
    return images, targets


def random_erasing(images: Tensor, probability: float, gen: torch.Generator) -> Tensor:
    """Replace one random box per chosen image (chosen with `probability`) by Gaussian noise."""
    n, _, height, width = images.shape
    box_w, box_h = _box_sizes(n, ERASE_AREA, ERASE_RATIO, images, gen)
    left = (1.0 - box_w) * torch.rand(n, generator=gen, device=images.device)
    top = (1.0 - box_h) * torch.rand(n, generator=gen, device=images.device)
    chosen = torch.rand(n, generator=gen, device=images.device) < probability
    cols = (torch.arange(width, device=images.device, dtype=images.dtype) + 0.5) / width
    rows = (torch.arange(height, device=images.device, dtype=images.dtype) + 0.5) / height
    in_cols = (cols >= left[:, None]) & (cols < (left + box_w)[:, None])
    in_rows = (rows >= top[:, None]) & (rows < (top + box_h)[:, None])
    mask = (in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None])[:, None]
    noise = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
    return torch.where(mask, noise, images)


#: Images per draw of the augmentation policy: torchvision's v2 policies pick one set of ops
#: per call, so the batch is cut into chunks this small (variety) and no smaller: a call costs
#: about as much for 1 image as for 16 (measured on the CPU: RandAugment per image 2.4 s per
#: batch of 64 at 32 px, per 4 images 0.30 s, the whole batch at once 0.02 s).
POLICY_CHUNK = 16
#: ... and at least this many draws per batch, however small the batch.
POLICY_DRAWS = 8


#: RandAugment as the recipes the advisor cites use it (timm's ``rand-m9-mstd0.5``, DeiT): two
#: ops, magnitude 9 on the paper's 0-10 scale, with Gaussian noise of std 0.5 per draw.
#: torchvision's default scale has 31 bins (magnitude 9 of 30: a third of that strength), so
#: the op is built with 11 bins, and the noise is drawn per chunk of images, rounded to a bin.
RANDAUGMENT_OPS = 2
RANDAUGMENT_MAGNITUDE = 9
RANDAUGMENT_MAGNITUDE_STD = 0.5
RANDAUGMENT_BINS = 11


def policy_transform(name: str):  # -> torchvision.transforms.v2.Transform | None
    """torchvision's `transforms.v2` op for a policy name: ``autoaugment`` (the ImageNet
    policy), ``randaugment`` (2 ops at magnitude 9 of 10, see `RANDAUGMENT_BINS`),
    ``trivialaugment`` (TrivialAugmentWide); None for ``none``."""
    if name == "none":
        return None
    from torchvision.transforms import v2

    if name == "autoaugment":
        return v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET)
    if name == "randaugment":
        return v2.RandAugment(num_ops=RANDAUGMENT_OPS, magnitude=RANDAUGMENT_MAGNITUDE,
                              num_magnitude_bins=RANDAUGMENT_BINS)
    if name == "trivialaugment":
        return v2.TrivialAugmentWide()
    raise ValueError(f"auto_augment: unknown policy {name!r}")


def apply_policy(images: Tensor, transform, chunk: int | None = None) -> Tensor:
    """`transform` on every chunk of `chunk` images (uint8, or float in [0, 1]), each chunk with
    its own random draw of ops and magnitudes (torch's global generator, seeded per trial).
    By default chunks of `POLICY_CHUNK` images, smaller when that gives fewer than
    `POLICY_DRAWS` draws."""
    if chunk is None:
        chunk = min(POLICY_CHUNK, max(1, len(images) // POLICY_DRAWS))
    noisy = getattr(transform, "num_magnitude_bins", None) == RANDAUGMENT_BINS
    parts = []
    for part in images.split(chunk):
        if noisy:  # timm's mstd: the magnitude varies per draw, within the scale
            drawn = RANDAUGMENT_MAGNITUDE + RANDAUGMENT_MAGNITUDE_STD * torch.randn(()).item()
            transform.magnitude = int(min(max(round(drawn), 0), RANDAUGMENT_BINS - 1))
        parts.append(transform(part))
    return torch.cat(parts)
