"""run_trial end to end on tiny data: reports, pruning, determinism, learning, devices."""

import pytest
import torch
from torch import nn

from worker.trainer import LoadedDataset, run_trial
from worker.trainer.datasets import DatasetProfile, load_dataset
from worker.trainer.run import BatchAugmenter, resolve_device

FAST = {"epochs": 2, "batch_size": 64, "learning_rate": 0.1}


@pytest.fixture(scope="module")
def tiny_digits() -> LoadedDataset:
    """300 training and 100 validation digits, to keep runs well under a second."""
    data = load_dataset("digits")
    profile = DatasetProfile(name="tiny_digits", num_train=300, num_val=100, num_classes=10,
                             image_size=32, channels=1, horizontal_flip_ok=False,
                             description="digits subset")
    return LoadedDataset(profile, data.x_train[:300], data.y_train[:300], data.x_val[:100],
                         data.y_val[:100], data.mean, data.std)


def test_report_is_called_once_per_epoch_with_1_based_epochs(tiny_digits):
    seen = []
    result = run_trial({**FAST, "epochs": 3}, tiny_digits, "small_cnn", device="cpu",
                       report=seen.append)
    assert [e.epoch for e in seen] == [1, 2, 3] and {e.epochs for e in seen} == {3}
    assert result.history == seen
    assert result.val_accuracy == seen[-1].val_accuracy
    assert result.best_val_accuracy == max(e.val_accuracy for e in seen)
    assert all(0.0 <= e.val_accuracy <= 1.0 and e.images_per_second > 0 for e in seen)
    assert set(result.curves()) == {"train_accuracy", "val_accuracy", "train_loss", "val_loss"}
    assert len(result.curves()["val_loss"]) == 3
    assert result.device == "cpu"


def test_an_exception_from_report_stops_training(tiny_digits):
    class Pruned(Exception):
        pass

    calls = []

    def prune_after_first(epoch):
        calls.append(epoch.epoch)
        raise Pruned

    with pytest.raises(Pruned):
        run_trial({**FAST, "epochs": 5}, tiny_digits, "small_cnn", device="cpu",
                  report=prune_after_first)
    assert calls == [1]


def test_same_seed_gives_identical_runs_on_cpu(tiny_digits):
    config = {**FAST, "mixup_alpha": 0.2, "cutmix_alpha": 1.0, "random_erasing": 0.25,
              "crop_scale": [0.3, 1.0], "horizontal_flip": True}
    first = run_trial(config, tiny_digits, "small_cnn", device="cpu", seed=3)
    second = run_trial(config, tiny_digits, "small_cnn", device="cpu", seed=3)
    other = run_trial(config, tiny_digits, "small_cnn", device="cpu", seed=4)
    assert first.curves() == second.curves()
    assert first.curves() != other.curves()


def test_flip_is_forced_off_when_the_data_set_forbids_it(tiny_digits):
    from worker.trainer.config import TrialConfig

    config = TrialConfig.from_mapping({"horizontal_flip": True})
    trial_flip = tiny_digits.profile.horizontal_flip_ok and config.horizontal_flip
    assert trial_flip is False
    images = torch.randn(32, 1, 8, 8)
    augment = BatchAugmenter(TrialConfig.from_mapping({"crop_scale": [1, 1],
                                                        "crop_ratio": [1, 1]}),
                             flip=False, num_classes=10, generator=torch.Generator(),
                             rng=None)  # type: ignore[arg-type]
    out, _ = augment(images, torch.zeros(32, dtype=torch.int64))
    assert torch.equal(out, images)


def test_run_trial_never_flips_digits(monkeypatch, tiny_digits):
    import worker.trainer.run as run

    def fail(*args, **kwargs):
        raise AssertionError("flip must not run on digits")

    monkeypatch.setattr(run, "random_horizontal_flip", fail)
    run_trial({**FAST, "epochs": 1, "horizontal_flip": True}, tiny_digits, "small_cnn",
              device="cpu")


def test_a_short_run_on_digits_clearly_beats_chance():
    result = run_trial({"epochs": 3, "learning_rate": 0.1, "crop_scale": [0.35, 1.0]},
                       "digits", "small_cnn", device="cpu", seed=0)
    assert result.val_accuracy > 0.5
    assert result.history[-1].train_loss < result.history[0].train_loss


@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop", "lamb", "lars"])
def test_every_optimizer_runs_a_trial(tiny_digits, optimizer):
    lr = {"adamw": 1e-3, "rmsprop": 1e-3, "lamb": 1e-2, "lars": 1.0}[optimizer]
    result = run_trial({**FAST, "epochs": 1, "optimizer": optimizer, "learning_rate": lr,
                        "lr_schedule": "piecewise", "warmup_epochs": 0.5},
                       tiny_digits, "small_cnn", device="cpu")
    assert len(result.history) == 1


def test_divergence_stops_training_early(tiny_digits):
    result = run_trial({**FAST, "epochs": 4, "learning_rate": 1e9, "lr_schedule": "constant"},
                       tiny_digits, "small_cnn", device="cpu")
    assert result.diverged and len(result.history) < 4


def test_threads_are_restored_after_the_trial(tiny_digits):
    before = torch.get_num_threads()
    run_trial({**FAST, "epochs": 1}, tiny_digits, "small_cnn", device="cpu", threads=1)
    assert torch.get_num_threads() == before


def test_bad_config_and_names_raise_value_errors(tiny_digits):
    with pytest.raises(ValueError, match="learning_rate"):
        run_trial({"learning_rate": -1}, tiny_digits, "small_cnn", device="cpu")
    with pytest.raises(ValueError, match="model"):
        run_trial(FAST, tiny_digits, "resnet19", device="cpu")
    with pytest.raises(ValueError, match="device"):
        run_trial(FAST, tiny_digits, "small_cnn", device="tpu")
    with pytest.raises(ValueError, match="dataset"):
        run_trial(FAST, "no-such-data", "small_cnn", device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_asking_for_cuda_without_a_gpu_is_a_clear_value_error():
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_model_is_trained_in_channels_last_on_cpu(tiny_digits, monkeypatch):
    import worker.trainer.run as run

    formats = []
    original = run.build

    def spy(*args, **kwargs):
        built = original(*args, **kwargs)
        built.module.register_forward_pre_hook(
            lambda _, inputs: formats.append(
                inputs[0].is_contiguous(memory_format=torch.channels_last)))
        return built

    monkeypatch.setattr(run, "build", spy)
    run_trial({**FAST, "epochs": 1}, tiny_digits, "small_cnn", device="cpu")
    assert formats and all(formats)
    assert isinstance(original("small_cnn", 10, 1).module, nn.Module)
