"""`run_trial`: train one configuration on one data set and report every epoch.

The data set is moved to the device once; every epoch draws a permutation and slices batches
from it; augmentation runs on the whole batch (see `augment.py`). On CPU the model and batches
use the channels_last memory format; on CUDA also bfloat16 autocast. All random draws come from
generators seeded with `seed`, so CPU runs are reproducible.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worker.trainer.augment import (
    mix_batch,
    one_hot_targets,
    random_erasing,
    random_horizontal_flip,
    random_resized_crop,
)
from worker.trainer.config import TrialConfig
from worker.trainer.datasets import LoadedDataset, load_dataset
from worker.trainer.models import build_model
from worker.trainer.optim import build_optimizer, parameter_groups
from worker.trainer.schedule import LearningRateSchedule, build_schedule

EVAL_BATCH_SIZE = 1024
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class EpochResult:
    """Metrics of one finished epoch (accuracies are fractions in [0, 1]).

    ``train_*`` are measured on the augmented batches during the epoch (train accuracy against
    each image's own label, train loss as optimised, with label smoothing and mixing);
    ``val_loss`` is plain cross-entropy. ``learning_rate`` is the rate of the epoch's last
    step; ``seconds`` covers training and evaluation, ``images_per_second`` training only.
    """

    epoch: int
    epochs: int
    train_accuracy: float
    train_loss: float
    val_accuracy: float
    val_loss: float
    learning_rate: float
    seconds: float
    images_per_second: float


@dataclass
class TrialResult:
    """The outcome of `run_trial`.

    ``val_accuracy`` is the last epoch's; ``diverged`` is True when training stopped early
    because the training loss was no longer finite (then ``history`` is shorter than epochs).
    """

    val_accuracy: float
    best_val_accuracy: float
    history: list[EpochResult]
    seconds: float
    images_per_second: float
    device: str
    diverged: bool = False

    def curves(self) -> dict[str, list[float]]:
        """Per-epoch train/val accuracy and loss, as lists."""
        keys = ("train_accuracy", "val_accuracy", "train_loss", "val_loss")
        return {key: [getattr(epoch, key) for epoch in self.history] for key in keys}


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without a GPU is a ValueError."""
    if device not in DEVICES:
        raise ValueError(f"device: must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was requested but torch sees no CUDA GPU")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class BatchAugmenter:
    """The configured augmentation pipeline for one trial, applied to whole batches."""

    config: TrialConfig
    flip: bool
    num_classes: int
    generator: torch.Generator
    rng: np.random.Generator
    crop: bool = field(init=False)
    mix: bool = field(init=False)

    def __post_init__(self) -> None:
        self.crop = self.config.crop_scale != (1.0, 1.0) or self.config.crop_ratio != (1.0, 1.0)
        self.mix = self.config.mixup_alpha > 0 or self.config.cutmix_alpha > 0

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Augmented images and targets (class indices, or probability rows when mixing)."""
        cfg = self.config
        if self.crop:
            images = random_resized_crop(images, cfg.crop_scale, cfg.crop_ratio, self.generator)
        if self.flip:
            images = random_horizontal_flip(images, self.generator)
        targets: Tensor = labels
        if self.mix:
            targets = one_hot_targets(labels, self.num_classes, images.dtype)
            images, targets = mix_batch(
                images, targets, cfg.mixup_alpha, cfg.cutmix_alpha, self.rng
            )
        if cfg.random_erasing > 0:
            images = random_erasing(images, cfg.random_erasing, self.generator)
        return images, targets


@dataclass
class _Trial:
    """Everything one trial needs on the device."""

    config: TrialConfig
    data: LoadedDataset
    device: torch.device
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LearningRateSchedule
    augment: BatchAugmenter
    generator: torch.Generator
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    batch_size: int
    steps_per_epoch: int
    step: int = 0


def run_trial(
    config: Mapping[str, Any],
    dataset: str | LoadedDataset,
    model: str,
    *,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    report: Callable[[EpochResult], None] | None = None,
) -> TrialResult:
    """Train `model` on `dataset` with `config` and return the per-epoch history.

    `report` is called after every epoch; an exception it raises (e.g. optuna.TrialPruned)
    propagates and stops training. Raises ValueError for invalid configs, names or devices.
    """
    started = time.perf_counter()
    trial_config = TrialConfig.from_mapping(config)
    data = load_dataset(dataset) if isinstance(dataset, str) else dataset
    target = resolve_device(device)
    with _thread_count(threads):
        trial = _prepare(trial_config, data, model, target, seed)
        history, diverged = _train(trial, report)
    return TrialResult(
        val_accuracy=history[-1].val_accuracy,
        best_val_accuracy=max(epoch.val_accuracy for epoch in history),
        history=history,
        seconds=time.perf_counter() - started,
        images_per_second=_overall_throughput(history),
        device=str(target),
        diverged=diverged,
    )


@contextlib.contextmanager
def _thread_count(threads: int | None) -> Iterator[None]:
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: must be a positive integer, got {threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _prepare(
    config: TrialConfig, data: LoadedDataset, model_name: str, device: torch.device, seed: int
) -> _Trial:
    profile = data.profile
    flip_wanted = profile.horizontal_flip_ok if config.horizontal_flip is None else (
        config.horizontal_flip
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(model_name, profile.num_classes, profile.channels)
    model = model.to(device, memory_format=torch.channels_last)
    num_train = len(data.y_train)
    batch_size = min(config.batch_size, num_train)
    steps_per_epoch = num_train // batch_size
    groups = parameter_groups(model, config.weight_decay, config.no_bias_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return _Trial(
        config=config,
        data=data,
        device=device,
        model=model,
        optimizer=build_optimizer(config.optimizer, groups, config.learning_rate,
                                  config.momentum),
        schedule=build_schedule(config.lr_schedule, config.learning_rate, config.epochs,
                                steps_per_epoch, config.warmup_epochs, config.warmup_start_lr,
                                config.lr_schedule_params),
        augment=BatchAugmenter(config, flip_wanted and profile.horizontal_flip_ok,
                               profile.num_classes, generator, np.random.default_rng(seed)),
        generator=generator,
        x_train=data.x_train.to(device),
        y_train=data.y_train.to(device),
        x_val=data.x_val.to(device).contiguous(memory_format=torch.channels_last),
        y_val=data.y_val.to(device),
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
    )


def _train(
    trial: _Trial, report: Callable[[EpochResult], None] | None
) -> tuple[list[EpochResult], bool]:
    history: list[EpochResult] = []
    epochs = trial.config.epochs
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        train_loss, train_accuracy, learning_rate = _train_epoch(trial)
        train_seconds = time.perf_counter() - epoch_started
        val_loss, val_accuracy = evaluate(trial.model, trial.x_val, trial.y_val, trial.device)
        result = EpochResult(
            epoch=epoch,
            epochs=epochs,
            train_accuracy=train_accuracy,
            train_loss=train_loss,
            val_accuracy=val_accuracy,
            val_loss=val_loss,
            learning_rate=learning_rate,
            seconds=time.perf_counter() - epoch_started,
            images_per_second=trial.steps_per_epoch * trial.batch_size / train_seconds,
        )
        history.append(result)
        if report is not None:
            report(result)
        if not math.isfinite(train_loss):
            return history, True
    return history, False


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _train_epoch(trial: _Trial) -> tuple[float, float, float]:
    """One pass over a fresh permutation; returns (mean loss, accuracy, last learning rate)."""
    model, optimizer, config = trial.model, trial.optimizer, trial.config
    model.train()
    order = torch.randperm(len(trial.y_train), generator=trial.generator, device=trial.device)
    loss_sum = torch.zeros((), device=trial.device)
    correct = torch.zeros((), device=trial.device, dtype=torch.int64)
    learning_rate = config.learning_rate
    for batch in range(trial.steps_per_epoch):
        index = order[batch * trial.batch_size : (batch + 1) * trial.batch_size]
        labels = trial.y_train[index]
        images, targets = trial.augment(trial.x_train[index], labels)
        images = images.contiguous(memory_format=torch.channels_last)
        learning_rate = trial.schedule(trial.step)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate
        with _autocast(trial.device):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        trial.step += 1
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(dim=1) == labels).sum()
    seen = trial.steps_per_epoch * trial.batch_size
    return loss_sum.item() / seen, correct.item() / seen, learning_rate


def evaluate(model: nn.Module, images: Tensor, labels: Tensor, device: torch.device):
    """(mean cross-entropy, accuracy) of `model` on the given tensors, in large batches."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    with torch.inference_mode(), _autocast(device):
        for start in range(0, len(labels), EVAL_BATCH_SIZE):
            batch_labels = labels[start : start + EVAL_BATCH_SIZE]
            logits = model(images[start : start + EVAL_BATCH_SIZE]).float()
            loss_sum += F.cross_entropy(logits, batch_labels, reduction="sum")
            correct += (logits.argmax(dim=1) == batch_labels).sum()
    model.train()
    return loss_sum.item() / len(labels), correct.item() / len(labels)


def _overall_throughput(history: list[EpochResult]) -> float:
    train_seconds = sum(1.0 / e.images_per_second for e in history)
    return len(history) / train_seconds if train_seconds > 0 else 0.0
