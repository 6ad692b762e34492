"""Every hyperparameter the advisor sets is applied by the trial runner, or the job is refused:
for each advised key, changing its value changes what the trial does. A new advised key with no
effect here fails `test_every_advised_key_changes_the_trial`."""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import torch
from torch.nn import functional as F
from torchvision.transforms import v2

import advisor
from advisor.engine import HYPERPARAMETER_KEYS
from worker.trainer import run as trial_run
from worker.trainer.config import KEYS, RECORDED_ONLY, TrialConfig
from worker.trainer.datasets import DatasetProfile, LoadedDataset
from worker.trainer.run import run_trial

#: A configuration with every feature on, so that changing any one value shows.
BASE = {
    "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.1, "lr_schedule": "piecewise",
    "lr_schedule_params": {"milestones": [1], "gamma": 0.2}, "warmup_epochs": 0.5,
    "warmup_start_lr": 0.01, "epochs": 2, "batch_size": 16, "weight_decay": 5e-4,
    "no_bias_decay": True, "label_smoothing": 0.1, "augmentation": "strong",
    "crop_scale": [0.35, 1.0], "crop_ratio": [0.75, 1.33], "horizontal_flip": True,
    "mixup_alpha": 0.2, "cutmix_alpha": 1.0, "auto_augment": "randaugment",
    "random_erasing": 0.25,
}
#: Another valid value for every key.
OTHER = {
    "optimizer": "adamw", "momentum": 0.8, "learning_rate": 0.05, "lr_schedule": "cosine",
    "lr_schedule_params": {"milestones": [1.5], "gamma": 0.5}, "warmup_epochs": 1.0,
    "warmup_start_lr": 0.0, "epochs": 1, "batch_size": 8, "weight_decay": 1e-3,
    "no_bias_decay": False, "label_smoothing": 0.0, "augmentation": "standard",
    "crop_scale": [0.8, 1.0], "crop_ratio": [1.0, 1.0], "horizontal_flip": False,
    "mixup_alpha": 0.8, "cutmix_alpha": 0.0, "auto_augment": "autoaugment",
    "random_erasing": 0.0,
}


@pytest.fixture(scope="module")
def data() -> LoadedDataset:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (48, 3, 16, 16), dtype=torch.uint8, generator=generator)
    labels = torch.arange(48) % 3
    profile = DatasetProfile(name="random", num_train=48, num_val=48, num_classes=3,
                             image_size=16, channels=3, horizontal_flip_ok=True,
                             description="random pixels")
    return LoadedDataset(profile, images, labels, images, labels)


def observe(config: dict, data: LoadedDataset, monkeypatch, run: bool = True) -> dict:
    """What a trial with `config` does: its optimizer and groups, every step's learning rate,
    the loss's label smoothing, the augmented batches, the batch size and (`run`: by training
    it) the epochs it trains and the configuration it records."""
    smoothing: list[float] = []
    original = F.cross_entropy

    def spy(*args, **kwargs):
        smoothing.append(kwargs.get("label_smoothing", 0.0))
        return original(*args, **kwargs)

    monkeypatch.setattr(trial_run.F, "cross_entropy", spy)
    trial_config = TrialConfig.from_mapping(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        trial = trial_run._prepare(trial_config, data, "small_cnn", torch.device("cpu"), seed=0)
        augmented = [trial.augment(data.x_train[i * 8 : (i + 1) * 8], data.y_train[:8])
                     for i in range(4)]
    groups = [{k: v for k, v in g.items() if k != "params"} | {"n": len(g["params"])}
              for g in trial.optimizer.param_groups]
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(trial.steps_per_epoch * trial_config.epochs):
            rates.append(trial.optimizer.param_groups[0]["lr"])
            trial.scheduler.step()
        trial_run._train_epoch(trial)  # one epoch: label smoothing as the loss sees it
    monkeypatch.setattr(trial_run.F, "cross_entropy", original)
    result = run_trial(config, data, "small_cnn", device="cpu", seed=0) if run else None
    return {
        "optimizer": type(trial.optimizer).__name__,
        "groups": repr(groups),
        "rates": [round(r, 10) for r in rates],
        "smoothing": sorted(set(smoothing)),
        "images": [a[0] for a in augmented],
        "targets": [a[1] for a in augmented],
        "batch_size": trial.batch_size,
        "epochs": len(result.history) if result else None,
        "recorded": dataclasses.asdict(result.config) if result else None,
    }


def differs(first: dict, second: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    changed = []
    for key in first:
        if key in ignore:
            continue
        a, b = first[key], second[key]
        if isinstance(a, list) and a and isinstance(a[0], torch.Tensor):
            same = len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y)
                                            for x, y in zip(a, b, strict=True))
        else:
            same = a == b
        if not same:
            changed.append(key)
    return changed


def test_the_runner_takes_every_key_the_advisor_sets_and_no_other():
    assert set(HYPERPARAMETER_KEYS) == set(KEYS)
    assert set(BASE) == set(OTHER) == set(HYPERPARAMETER_KEYS)


@pytest.mark.slow
def test_every_advised_key_changes_the_trial(data, monkeypatch):
    bases = {run: observe(BASE, data, monkeypatch, run) for run in (True, False)}
    assert not differs(bases[False], observe(BASE, data, monkeypatch, False))  # repeatable
    ignored = []
    for key in HYPERPARAMETER_KEYS:
        trained = key in ("epochs", *RECORDED_ONLY)  # a full run only where it is the evidence
        changed = differs(bases[trained], observe({**BASE, key: OTHER[key]}, data, monkeypatch,
                                                  trained), ignore=("recorded",))
        if key in RECORDED_ONLY:
            assert not changed, f"{key} is said to be recorded only, but it changed {changed}"
        elif not changed:
            ignored.append(key)
    assert not ignored, f"advised keys the trial runner ignores: {ignored}"
    assert RECORDED_ONLY == ("augmentation",)  # a level; the keys it chose are applied above


def test_a_recorded_only_key_is_checked_and_recorded(data):
    result = run_trial({**BASE, "epochs": 1, "augmentation": "standard"}, data, "small_cnn",
                       device="cpu")
    assert result.config.augmentation == "standard"
    with pytest.raises(ValueError, match="augmentation"):
        TrialConfig.from_mapping({"augmentation": "maximal"})


def test_a_job_advised_randaugment_trains_with_torchvisions_randaugment(data, monkeypatch):
    """The advisor's strong-augmentation answer for a transformer says randaugment; training
    with that answer calls torchvision's v2.RandAugment on every batch, in chunks of images."""
    advice = advisor.recommend({
        "model": {"name": "deit_tiny_patch16_224"},
        "dataset": {"num_train_images": 48, "num_classes": 3, "image_size": 16},
        "training": {"batch_size": 16, "epochs": 1, "augmentation": "strong"}})
    assert advice.hyperparameters["auto_augment"] == "randaugment"
    calls: list[int] = []
    magnitudes: list[int] = []
    original = v2.RandAugment.forward

    def spy(self, *inputs):
        calls.append(len(inputs[0]))
        magnitudes.append(self.magnitude)
        assert self.num_ops == 2 and self.num_magnitude_bins == 11  # m9 on the 0-10 scale
        return original(self, *inputs)

    monkeypatch.setattr(v2.RandAugment, "forward", spy)
    result = run_trial(advice.hyperparameters, data, "small_cnn", device="cpu")
    steps = len(result.history) * (48 // 16)
    assert sum(calls) == steps * 16  # every training image went through RandAugment
    assert len(calls) == steps * 8  # eight draws per batch: per-sample variety
    assert 9 in magnitudes and all(7 <= m <= 11 for m in magnitudes)  # magnitude std 0.5
    assert len(set(magnitudes)) > 1
    calls.clear()
    run_trial({**advice.hyperparameters, "auto_augment": "none"}, data, "small_cnn",
              device="cpu")
    assert not calls


def test_the_policy_varies_within_a_batch(data):
    from worker.trainer.augment import apply_policy

    torch.manual_seed(0)
    same = data.x_train[:1].repeat(32, 1, 1, 1)
    out = apply_policy(same, v2.RandAugment(num_ops=2, magnitude=9), chunk=4)
    distinct = {out[i].numpy().tobytes() for i in range(0, 32, 4)}
    assert len(distinct) > 2


@pytest.mark.parametrize("model", ["resnet50", "mobilenet_v3_small", "vit_b_16",
                                   "efficientnet_b0", "convnext_tiny", "small_cnn"])
@pytest.mark.parametrize("training", [
    {"batch_size": 128}, {"batch_size": 8192}, {"batch_size": 64, "pretrained": True},
    {"batch_size": 256, "epochs": 90}, {"batch_size": 512, "augmentation": "strong"},
    {"batch_size": 256, "optimizer": "lamb", "goal": "fast_convergence"},
])
def test_every_advised_configuration_is_within_the_typed_contract(model, training):
    spec = {"name": model} if model != "small_cnn" else {"params_millions": 0.1}
    answer = advisor.recommend({"model": spec, "training": training,
                                "dataset": {"num_train_images": 5000, "num_classes": 10,
                                            "image_size": 64}})
    typed = answer.typed_hyperparameters()
    assert TrialConfig.from_mapping(typed) == TrialConfig.from_mapping(answer.hyperparameters)
