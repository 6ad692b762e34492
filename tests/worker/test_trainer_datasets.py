"""Data set registry: built-ins, profiles without loading, user npz and folder data sets."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from worker.trainer.datasets import (
    dataset_names,
    dataset_profile,
    load_dataset,
    register_dataset,
    register_datasets_from_config,
)
from worker.trainer.shapes import SHAPE_CLASSES, generate_shapes


def test_profiles_are_available_without_loading():
    def never_load():
        raise AssertionError("dataset_profile must not load the data")

    profile = dataset_profile("digits")
    register_dataset("lazy", never_load, profile.model_copy(update={"name": "lazy"}))
    assert dataset_profile("lazy").num_train == 1437
    assert {"digits", "shapes", "lazy"} <= set(dataset_names())
    assert (profile.num_train, profile.num_val, profile.image_size, profile.channels) == (
        1437, 360, 32, 1)
    assert profile.horizontal_flip_ok is False
    assert dataset_profile("shapes").horizontal_flip_ok is True


def test_digits_loads_upsampled_with_its_statistics_and_matches_its_profile():
    data = load_dataset("digits")
    assert data.x_train.shape == (1437, 1, 32, 32) and data.x_val.shape == (360, 1, 32, 32)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert data.mean == pytest.approx((data.x_train.mean().item(),), rel=1e-4)
    assert data.std == pytest.approx((data.x_train.std().item(),), rel=1e-3)
    assert torch.bincount(data.y_val).min() >= 35
    assert load_dataset("digits") is data


def test_shapes_generation_is_deterministic_for_a_seed():
    first_images, first_labels = generate_shapes(40, seed=7)
    second_images, second_labels = generate_shapes(40, seed=7)
    assert np.array_equal(first_images, second_images)
    assert np.array_equal(first_labels, second_labels)
    assert first_images.shape == (40, 32, 32, 3) and first_images.dtype == np.uint8
    assert not np.array_equal(first_images, generate_shapes(40, seed=8)[0])
    assert sorted(set(first_labels.tolist())) == list(range(len(SHAPE_CLASSES)))


def _write_config(tmp_path, entries, suffix=".json"):
    path = tmp_path / f"worker{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"datasets": entries}))
    else:
        lines = []
        for entry in entries:
            lines.append("[[datasets]]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
        path.write_text("\n".join(lines))
    return path


def test_npz_data_set_registers_profile_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", x=rng.integers(0, 256, (50, 16, 16, 3), dtype=np.uint8),
             y=np.arange(50) % 5)
    config = _write_config(tmp_path, [{"name": "tiny-npz", "path": "tiny.npz", "format": "npz",
                                       "horizontal_flip_ok": True, "image_size": 24}])
    assert register_datasets_from_config(config) == ["tiny-npz"]
    profile = dataset_profile("tiny-npz")
    assert (profile.num_train, profile.num_val, profile.num_classes) == (40, 10, 5)
    assert (profile.image_size, profile.channels) == (24, 3)
    data = load_dataset("tiny-npz")
    assert data.x_train.shape == (40, 3, 24, 24) and data.x_val.shape == (10, 3, 24, 24)
    assert torch.bincount(data.y_val).tolist() == [2] * 5


def test_grayscale_npz_without_channel_axis_gets_one_channel(tmp_path):
    np.savez(tmp_path / "gray.npz", x=np.random.rand(20, 8, 8).astype(np.float32),
             y=np.arange(20) % 2)
    config = _write_config(tmp_path, [{"name": "gray", "path": "gray.npz", "format": "npz",
                                       "horizontal_flip_ok": False, "val_fraction": 0.5}],
                           suffix=".toml")
    register_datasets_from_config(config)
    data = load_dataset("gray")
    assert data.x_train.shape == (10, 1, 8, 8)
    assert data.profile.horizontal_flip_ok is False


def test_folder_data_set_reads_one_subfolder_per_class(tmp_path):
    for label, colour in enumerate([(255, 0, 0), (0, 0, 255), (0, 255, 0)]):
        folder = tmp_path / "images" / f"class_{label}"
        folder.mkdir(parents=True)
        for index in range(5):
            Image.new("RGB", (12, 10), colour).save(folder / f"{index}.png")
    config = _write_config(tmp_path, [{"name": "colours", "path": "images", "format": "folder",
                                       "horizontal_flip_ok": True, "image_size": 16}])
    register_datasets_from_config(config)
    profile = dataset_profile("colours")
    assert (profile.num_train, profile.num_val, profile.num_classes, profile.channels) == (
        12, 3, 3, 3)
    data = load_dataset("colours")
    assert data.x_train.shape == (12, 3, 16, 16)
    assert sorted(data.y_val.tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"format": "csv"}, "format"),
        ({"path": "missing.npz"}, "path"),
        ({"horizontal_flip_ok": "yes"}, "horizontal_flip_ok"),
        ({"image_size": 0}, "image_size"),
        ({"val_fraction": 1.5}, "val_fraction"),
    ],
)
def test_invalid_config_entries_name_the_field(tmp_path, entry, field):
    np.savez(tmp_path / "ok.npz", x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2)
    base = {"name": "ok", "path": "ok.npz", "format": "npz", "horizontal_flip_ok": True}
    config = _write_config(tmp_path, [{**base, **entry}])
    with pytest.raises(ValueError, match=field):
        register_datasets_from_config(config)


def test_unknown_data_set_is_a_value_error():
    with pytest.raises(ValueError, match="unknown data set"):
        dataset_profile("nope")
