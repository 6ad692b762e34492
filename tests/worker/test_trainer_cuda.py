"""The CUDA path: bf16 autocast, channels_last, uint8 data on the device or streamed from pinned
memory. Skipped without a GPU (none was lent when this was written: the path is written to be
right without one and checked here when a device is there)."""

from __future__ import annotations

import pytest
import torch

from worker.trainer import run
from worker.trainer.datasets import DatasetProfile, LoadedDataset
from worker.trainer.run import run_trial

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.fixture(scope="module")
def data() -> LoadedDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.arange(256) % 4
    profile = DatasetProfile(name="gpu", num_train=256, num_val=256, num_classes=4, image_size=32,
                             channels=3, horizontal_flip_ok=True, description="random pixels")
    return LoadedDataset(profile, images, labels, images, labels)


@pytest.mark.parametrize("stream", [False, True])
def test_a_trial_on_cuda_runs_in_bf16_and_channels_last(data, monkeypatch, stream):
    seen = []
    original = run.build

    def spy(*args, **kwargs):
        built = original(*args, **kwargs)
        built.module.fc.register_forward_hook(
            lambda module, inputs, output: seen.append((output.dtype, output.device.type)))
        built.module.conv1.register_forward_pre_hook(
            lambda module, inputs: seen.append(
                inputs[0].is_contiguous(memory_format=torch.channels_last)))
        return built

    monkeypatch.setattr(run, "build", spy)
    result = run_trial({"epochs": 2, "batch_size": 64, "learning_rate": 0.05,
                        "auto_augment": "randaugment", "mixup_alpha": 0.2, "cutmix_alpha": 1.0,
                        "random_erasing": 0.25}, data, "resnet18", device="cuda", stream=stream)
    assert result.device.startswith("cuda") and len(result.history) == 2
    assert (torch.bfloat16, "cuda") in seen and True in seen and False not in seen


def test_streamed_and_resident_batches_see_the_same_images(data):
    resident = run.Batches.place(data.x_train, data.y_train, torch.device("cuda"), False)
    streamed = run.Batches.place(data.x_train, data.y_train, torch.device("cuda"), True,
                                  batch_size=64)
    assert streamed.streamed and streamed.x.is_pinned()
    index = torch.arange(64, 128)
    for _ in range(3):  # both pinned buffers, then the first again
        a, b = resident.get(index.cuda()), streamed.get(index)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_a_cuda_trial_checkpoints_and_resumes(data):
    """The state a CUDA trial captures (its device generator and CUDA RNG included) goes back
    into a fresh trial, which trains on from the next epoch."""
    config = {"epochs": 3, "batch_size": 64, "learning_rate": 0.05, "auto_augment": "randaugment",
              "random_erasing": 0.25}
    states = {}
    whole = run_trial(config, data, "resnet18", device="cuda", seed=1,
                      save=lambda epoch, capture: states.setdefault(epoch, capture()))
    assert sorted(states) == [1, 2] and states[1]["rng"]["cuda"].device.type == "cpu"
    reported = []
    resumed = run_trial(config, data, "resnet18", device="cuda", seed=1, resume=states[1],
                        report=lambda epoch: reported.append(epoch.epoch))
    assert reported == [2, 3] and len(resumed.history) == 3
    assert resumed.history[0] == whole.history[0]  # restored, not re-run


def test_a_folder_over_the_memory_budget_streams_from_disk_to_cuda(tmp_path):
    """Pinned window buffers, one copy per window, batches cut on the device; the epoch sees
    every training image once and the trial learns."""
    import json

    from test_data_on_disk import make_bars  # the same generated folder as the CPU tests

    from worker.trainer.datasets import load_dataset, register_datasets_from_config
    from worker.trainer.disk_images import DiskImages

    folder = make_bars(tmp_path / "bars", per_class=100, side=16)
    config = tmp_path / "worker.json"
    config.write_text(json.dumps({"datasets": [{"name": "bars-cuda", "path": str(folder),
                                                "format": "folder", "horizontal_flip_ok": False,
                                                "image_size": 16}]}))
    register_datasets_from_config(config)
    data = load_dataset("bars-cuda", tmp_path / "cache", memory_budget=100 * 16 * 16 * 3)
    assert isinstance(data.x_train, DiskImages)
    batches = run.Batches.place(data.x_train, data.y_train, torch.device("cuda"), None, seed=1)
    seen = sum(len(labels) for images, labels in batches.epoch(torch.Generator(), 16, 20)
               if images.is_cuda)
    assert seen == 320
    result = run_trial({"epochs": 3, "batch_size": 16, "learning_rate": 0.05}, data,
                       "small_cnn", device="cuda")
    assert result.best_val_accuracy > 0.5
