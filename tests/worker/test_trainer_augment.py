"""Batched augmentation ops: shapes, label mass, identities, reproducibility."""

import numpy as np
import pytest
import torch

from worker.trainer.augment import (
    cutmix,
    mix_batch,
    mixup,
    one_hot_targets,
    random_erasing,
    random_horizontal_flip,
    random_resized_crop,
)


def _batch(n=16, channels=3, size=32):
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(1))


def _targets(n=16, classes=10):
    return one_hot_targets(torch.arange(n) % classes, classes, torch.float32)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_crop_with_full_scale_and_square_ratio_is_the_identity():
    images = _batch()
    assert torch.allclose(random_resized_crop(images, (1.0, 1.0), (1.0, 1.0), _gen()), images,
                          atol=1e-5)


def test_crop_keeps_the_shape_and_changes_images():
    images = _batch(channels=1)
    cropped = random_resized_crop(images, (0.08, 1.0), (0.75, 4 / 3), _gen())
    assert cropped.shape == images.shape
    assert not torch.allclose(cropped, images)


def test_crop_is_reproducible_for_a_seed():
    images = _batch()
    first = random_resized_crop(images, (0.2, 1.0), (0.75, 4 / 3), _gen(3))
    assert torch.equal(first, random_resized_crop(images, (0.2, 1.0), (0.75, 4 / 3), _gen(3)))


def test_flip_mirrors_some_images_exactly_and_leaves_the_others():
    images = _batch(n=64)
    flipped = random_horizontal_flip(images, _gen())
    mirrored = (flipped == images.flip(3)).flatten(1).all(1)
    unchanged = (flipped == images).flatten(1).all(1)
    assert torch.all(mirrored | unchanged)
    assert 10 < mirrored.sum() < 54


@pytest.mark.parametrize("op", [mixup, cutmix])
def test_mixing_keeps_shapes_and_label_mass(op):
    images, targets = _batch(), _targets()
    mixed, mixed_targets = op(images, targets.clone(), 1.0, np.random.default_rng(0))
    assert mixed.shape == images.shape and mixed_targets.shape == targets.shape
    assert torch.allclose(mixed_targets.sum(1), torch.ones(16))
    assert (mixed_targets >= 0).all()


def test_cutmix_label_mass_is_the_pasted_area_ratio():
    images = torch.zeros(2, 1, 10, 10)
    images[1] = 1.0
    mixed, targets = cutmix(images, _targets(2, 2), 1.0, np.random.default_rng(5))
    pasted_fraction = mixed[0].mean().item()
    assert targets[0, 1].item() == pytest.approx(pasted_fraction)


def test_mix_batch_with_both_alphas_uses_both_ops():
    images, targets = torch.zeros(4, 1, 8, 8), _targets(4, 4)
    images[::2] = 1.0
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(20):
        mixed, _ = mix_batch(images, targets.clone(), 1.0, 1.0, rng)
        values = torch.unique(mixed[0])
        kinds.add("cutmix" if set(values.tolist()) <= {0.0, 1.0} else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_random_erasing_keeps_shape_and_erases_only_chosen_images():
    images = _batch(n=200)
    erased = random_erasing(images, 0.5, _gen())
    assert erased.shape == images.shape
    changed = (erased != images).flatten(1).any(1)
    assert 60 < changed.sum() < 140
    assert torch.equal(random_erasing(images, 0.0, _gen()), images)


def test_random_erasing_erases_a_rectangle_within_bounds():
    images = torch.zeros(50, 1, 32, 32)
    erased = random_erasing(images, 1.0, _gen())
    fraction = (erased != 0).float().flatten(1).mean(1)
    assert (fraction > 0.005).all() and (fraction < 0.45).all()
