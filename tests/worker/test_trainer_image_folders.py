"""Image folders: JPEG and PNG of any size, decoded once into a uint8 cache on disk, re-opened
from it, decoded again when the folder changes; then trained on at the asked resolution."""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch
from PIL import Image

from worker.trainer import datasets, folder_cache, image_folder
from worker.trainer.datasets import dataset_profile, load_dataset, register_datasets_from_config
from worker.trainer.image_folder import read_image_folder
from worker.trainer.run import run_trial

COLOURS = [(220, 30, 30), (30, 30, 220), (30, 200, 30)]


def make_folder(root, per_class=6, sizes=((40, 30), (64, 64), (23, 50))):
    """Three classes of solid-colour images with noise, mixed JPEG and PNG of various sizes."""
    rng = np.random.default_rng(0)
    for label, colour in enumerate(COLOURS):
        folder = root / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            width, height = sizes[index % len(sizes)]
            noise = rng.integers(-20, 20, (height, width, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            suffix = ".jpg" if index % 2 else ".png"
            Image.fromarray(pixels).save(folder / f"{index}{suffix}")
    return root


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def entries(cache):
    """The complete cache entries under `cache` (one directory each)."""
    return [path for path in cache.iterdir() if (path / "meta.json").is_file()]


def test_a_folder_is_decoded_once_to_uint8_and_reopened_from_the_cache(tmp_path, cache,
                                                                      monkeypatch):
    folder = make_folder(tmp_path / "photos")
    images, labels = read_image_folder(folder, 3, 32, cache_dir=cache)
    assert images.dtype == torch.uint8 and images.shape == (18, 3, 32, 32)
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    red = images[labels == 0].float().mean(dim=(0, 2, 3))
    assert red[0] > 150 and red[2] < 80
    assert len(entries(cache)) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again although the folder did not change")

    monkeypatch.setattr(image_folder, "_decode", no_decoding)
    again, _ = read_image_folder(folder, 3, 32, cache_dir=cache)
    assert torch.equal(again, images)


def test_a_changed_folder_is_decoded_again(tmp_path, cache):
    folder = make_folder(tmp_path / "photos")
    first, _ = read_image_folder(folder, 3, 32, cache_dir=cache)
    Image.new("RGB", (10, 10), (0, 0, 0)).save(folder / "class_0" / "extra.png")
    second, labels = read_image_folder(folder, 3, 32, cache_dir=cache)
    assert len(second) == len(first) + 1 and (labels == 0).sum() == 7
    path = folder / "class_1" / "0.png"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    read_image_folder(folder, 3, 32, cache_dir=cache)
    assert len(entries(cache)) == 3  # each listing its own cache entry
    read_image_folder(folder, 3, 48, cache_dir=cache)  # another resolution: another cache
    assert len(entries(cache)) == 4


def test_a_long_decode_reports_images_decoded_n_of_total(tmp_path, cache, monkeypatch, caplog):
    folder = make_folder(tmp_path / "photos")
    monkeypatch.setattr(folder_cache, "PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(folder_cache, "DECODE_BLOCK", 4)
    seen = []
    read_image_folder(folder, 3, 16, progress=lambda done, total: seen.append((done, total)),
                      cache_dir=cache)
    assert seen[-1] == (18, 18) and len(seen) > 2
    with caplog.at_level(logging.INFO, logger="hpadvisor.worker"):
        read_image_folder(folder, 1, 16, cache_dir=cache)
    assert "images decoded 18/18 (" in caplog.text and "images/s)" in caplog.text


def register_folder(root, name, per_class, image_size):
    """A folder of `make_folder` images registered as `name` through a worker config file."""
    make_folder(root / "photos", per_class=per_class)
    config = root / "worker.json"
    config.write_text(json.dumps({"datasets": [{
        "name": name, "path": "photos", "format": "folder", "horizontal_flip_ok": True,
        "image_size": image_size}]}))
    register_datasets_from_config(config)


def test_a_registered_folder_trains_a_torchvision_model_at_its_resolution(tmp_path, cache):
    register_folder(tmp_path, "photos", per_class=8, image_size=32)
    profile = dataset_profile("photos")
    assert (profile.num_classes, profile.image_size, profile.channels) == (3, 32, 3)
    data = load_dataset("photos", cache_dir=cache)
    assert data.x_train.dtype == torch.uint8 and data.mean is not None
    result = run_trial({"epochs": 2, "batch_size": 8, "learning_rate": 0.05,
                        "auto_augment": "trivialaugment", "random_erasing": 0.2},
                       data, "resnet18", device="cpu", threads=1)
    assert len(result.history) == 2 and 0.0 <= result.val_accuracy <= 1.0


def test_a_folder_named_to_run_trial_is_cached_in_the_cache_dir_it_is_given(tmp_path, cache):
    register_folder(tmp_path, "told", per_class=4, image_size=16)
    run_trial({"epochs": 1, "batch_size": 8, "learning_rate": 0.05}, "told", "small_cnn",
              device="cpu", threads=1, cache_dir=cache)
    assert len(entries(cache)) == 1


def test_batches_streamed_from_host_memory_train_like_batches_on_the_device(tmp_path, cache):
    make_folder(tmp_path / "photos", per_class=8)
    images, labels = read_image_folder(tmp_path / "photos", 3, 16, cache_dir=cache)
    profile = datasets.DatasetProfile(name="streamed", num_train=24, num_val=0, num_classes=3,
                                      image_size=16, channels=3, horizontal_flip_ok=True)
    data = datasets.LoadedDataset(profile, images, labels, images, labels)
    config = {"epochs": 2, "batch_size": 8, "learning_rate": 0.05}
    resident = run_trial(config, data, "small_cnn", device="cpu", stream=False)
    streamed = run_trial(config, data, "small_cnn", device="cpu", stream=True)
    assert streamed.curves() == resident.curves()
