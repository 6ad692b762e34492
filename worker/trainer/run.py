"""`run_trial`: train one configuration on one data set and report every epoch.

The data set is moved to the device once (uint8 where it is uint8: a quarter of the memory of
floats); every epoch draws a permutation and slices batches from it. When it does not fit in
the GPU's memory (more than half of what is free), it stays in pinned host memory and each
batch is gathered there and copied ahead of use (non-blocking); the validation images then
stay on the host too and go over one evaluation batch at a time. An image folder larger than
the host's memory budget stays on disk (`worker.trainer.disk_images`): each epoch reads it in
large windows of randomly drawn chunks, one window ahead, and shuffles each window on the
device. Every batch is augmented whole
on the device, in this order: the augmentation policy (`auto_augment`, torchvision's v2 ops on
uint8, a fresh draw per few images), conversion to float, random-resized crop, flip,
normalisation (the data set's statistics, or the pretrained weights' own), mixup/cutmix, random
erasing. Models and batches use channels_last; on CUDA the forward pass runs under bfloat16
autocast. All random draws come from generators seeded with `seed` (the policies from torch's
global generator, seeded and restored around the trial), so CPU runs are reproducible.

A trial can be checkpointed at epoch ends and resumed: `save` is handed a function that captures
the whole state (model, optimizer, scheduler, every random generator, the step, the history so
far; there is no gradient scaler, bf16 autocast needs none), and `resume` takes such a state and
goes on from the next epoch. On the CPU with the same seed a resumed trial ends exactly where an
uninterrupted one does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from advisor.schemas import Hyperparameters
from worker.trainer.augment import (
    apply_policy,
    mix_batch,
    one_hot_targets,
    policy_transform,
    random_erasing,
    random_horizontal_flip,
    random_resized_crop,
)
from worker.trainer.config import TrialConfig
from worker.trainer.datasets import LoadedDataset, load_dataset
from worker.trainer.disk_images import DiskImages
from worker.trainer.models import BuiltModel, PretrainedInfo, build
from worker.trainer.optim import build_optimizer, parameter_groups
from worker.trainer.schedule import build_scheduler

EVAL_BATCH_SIZE = 1024
#: Stream batches from host memory when the training images need more than this share of the
#: GPU's free memory.
STREAM_FRACTION = 0.5
DEVICES = ("auto", "cpu", "cuda")
#: Version of the state `save` captures and `resume` takes.
STATE_FORMAT = 1

#: `save(epoch, capture)`: called after each epoch's report; `capture()` returns the state.
SaveHook = Callable[[int, Callable[[], dict[str, Any]]], None]


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
    pretrained: PretrainedInfo | None = None
    input_note: str | None = None
    config: TrialConfig | None = None
    #: The trained network (on its device), for whoever keeps the final weights.
    module: nn.Module | None = None
    #: What the network takes: per-channel mean and std applied to [0, 1] pixels (None: the
    #: data were normalised floats), channels, and the side of its (square) input.
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    channels: int = 3
    input_size: int = 0

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
class Normaliser:
    """From a batch as stored (uint8, or float in [0, 1]) to what the model takes: float,
    standardised per channel, channels repeated for an RGB model fed grey images, resized for a
    model with a fixed input size."""

    mean: Tensor | None
    std: Tensor | None
    repeat: int = 1
    size: int | None = None

    def to_float(self, images: Tensor) -> Tensor:
        if images.dtype == torch.uint8:
            return images.float().div_(255.0)
        return images.float()

    def standardise(self, images: Tensor) -> Tensor:
        if self.mean is not None and self.std is not None:
            images = (images - self.mean) / self.std
        if self.repeat > 1:
            images = images.repeat(1, self.repeat, 1, 1)
        if self.size is not None and tuple(images.shape[-2:]) != (self.size, self.size):
            images = F.interpolate(images, size=(self.size, self.size), mode="bilinear",
                                   align_corners=False, antialias=True)
        return images

    def __call__(self, images: Tensor) -> Tensor:
        return self.standardise(self.to_float(images))


@dataclass
class BatchAugmenter:
    """The configured augmentation pipeline for one trial, applied to whole batches."""

    config: TrialConfig
    flip: bool
    num_classes: int
    generator: torch.Generator
    rng: np.random.Generator
    normaliser: Normaliser = field(default_factory=lambda: Normaliser(None, None))
    crop: bool = field(init=False)
    mix: bool = field(init=False)
    policy: Any = field(init=False)

    def __post_init__(self) -> None:
        self.crop = self.config.crop_scale != (1.0, 1.0) or self.config.crop_ratio != (1.0, 1.0)
        self.mix = self.config.mixup_alpha > 0 or self.config.cutmix_alpha > 0
        self.policy = policy_transform(self.config.auto_augment)

    def __call__(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Augmented, normalised images and targets (class indices, or probability rows when
        mixing)."""
        cfg = self.config
        if self.policy is not None:
            images = apply_policy(images, self.policy)
        images = self.normaliser.to_float(images)
        if self.crop:
            images = random_resized_crop(images, cfg.crop_scale, cfg.crop_ratio, self.generator)
        if self.flip:
            images = random_horizontal_flip(images, self.generator)
        images = self.normaliser.standardise(images)
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
class Batches:
    """The training images and labels: on the device, or (`streamed`) in host memory or on
    disk (`DiskImages`: read a window at a time, see `worker.trainer.disk_images`).

    Streamed to a GPU, the images sit in pinned memory and each batch is gathered
    (`index_select`) into one of two pinned buffers and copied without blocking, so the copy of
    the next batch overlaps the current step; an event per buffer keeps a buffer from being
    refilled before its copy is done. The epoch's permutation is then drawn on the CPU (a
    device permutation would synchronise on every batch to be read back).
    """

    x: Tensor | DiskImages
    y: Tensor
    device: torch.device
    streamed: bool
    host_generator: torch.Generator | None = None
    _buffers: list[Tensor] = field(default_factory=list)
    _events: list[Any] = field(default_factory=list)
    _turn: int = 0

    @classmethod
    def place(cls, x: Tensor | DiskImages, y: Tensor, device: torch.device,
              stream: bool | None, seed: int = 0, batch_size: int = 1) -> Batches:
        if isinstance(x, DiskImages):
            return cls(x, y, device, True, torch.Generator().manual_seed(seed))
        if stream is None:
            stream = device.type == "cuda" and (
                x.numel() * x.element_size() > STREAM_FRACTION * torch.cuda.mem_get_info(device)[0])
        if not stream:
            return cls(x.to(device), y.to(device), device, False)
        if device.type != "cuda":
            return cls(x, y, device, True)
        batches = cls(x.pin_memory(), y, device, True, torch.Generator().manual_seed(seed))
        batches._buffers = [torch.empty((batch_size, *x.shape[1:]), dtype=x.dtype).pin_memory()
                            for _ in range(2)]
        batches._events = [None, None]
        return batches

    def __len__(self) -> int:
        return len(self.y)

    def permutation(self, generator: torch.Generator) -> Tensor:
        if self.host_generator is not None:
            return torch.randperm(len(self.y), generator=self.host_generator)
        return torch.randperm(len(self.y), generator=generator, device=generator.device)

    def epoch(self, generator: torch.Generator, batch_size: int,
              steps: int) -> Iterator[tuple[Tensor, Tensor]]:
        """The `steps` batches of one epoch on the device, in a fresh random order."""
        if isinstance(self.x, DiskImages):
            yield from self._from_disk(self.x, batch_size, steps)
            return
        order = self.permutation(generator)
        for batch in range(steps):
            yield self.get(order[batch * batch_size : (batch + 1) * batch_size])

    def _from_disk(self, images: DiskImages, batch_size: int,
                   steps: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches cut from each window in a random order, on the device; the images left at a
        window's end open the next window's first batch (copies, as the window's buffer is
        refilled two windows on)."""
        assert self.host_generator is not None
        parts: list[tuple[Tensor, Tensor]] = []
        have = produced = 0
        windows = images.windows(self.y, self.host_generator, pin=self.device.type == "cuda")
        try:
            for window, labels in windows:
                window, labels = window.to(self.device), labels.to(self.device)
                order = torch.randperm(len(labels), generator=self.host_generator)
                start = 0
                while start < len(order) and produced < steps:
                    index = order[start : start + batch_size - have].to(self.device)
                    parts.append((window[index], labels[index]))
                    have, start = have + len(index), start + len(index)
                    if have == batch_size:
                        batch = parts[0] if len(parts) == 1 else (
                            torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts]))
                        yield batch
                        parts, have, produced = [], 0, produced + 1
                if produced == steps:
                    return
        finally:
            windows.close()

    def get(self, index: Tensor) -> tuple[Tensor, Tensor]:
        assert isinstance(self.x, Tensor)
        if not self.streamed:
            return self.x[index], self.y[index]
        host = index.cpu()
        if self.device.type != "cuda":
            return self.x[host], self.y[host]
        turn, self._turn = self._turn, 1 - self._turn
        if self._events[turn] is not None:
            self._events[turn].synchronize()
        buffer = self._buffers[turn][: len(host)]
        torch.index_select(self.x, 0, host, out=buffer)
        images = buffer.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._events[turn] = event
        return images, self.y[host].to(self.device)


@dataclass
class _Trial:
    """Everything one trial needs on the device."""

    config: TrialConfig
    data: LoadedDataset
    device: torch.device
    built: BuiltModel
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    augment: BatchAugmenter
    normaliser: Normaliser
    generator: torch.Generator
    train: Batches
    x_val: Tensor | DiskImages
    y_val: Tensor
    batch_size: int
    steps_per_epoch: int
    step: int = 0
    eval_batch: int = EVAL_BATCH_SIZE


def run_trial(
    config: Mapping[str, Any] | TrialConfig | Hyperparameters,
    dataset: str | LoadedDataset,
    model: str,
    *,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    report: Callable[[EpochResult], None] | None = None,
    pretrained: bool = False,
    weights: str | None = None,
    stream: bool | None = None,
    cache_dir: Path | None = None,
    memory_budget: int | None = None,
    data_fraction: float = 1.0,
    image_size: int | None = None,
    save: SaveHook | None = None,
    resume: Mapping[str, Any] | None = None,
) -> TrialResult:
    """Train `model` on `dataset` with `config` and return the per-epoch history.

    `report` is called after every epoch; an exception it raises (e.g. optuna.TrialPruned)
    propagates and stops training. With `pretrained`, the model starts from local weights
    (`weights`, a file, or those `worker.trainer.weights` finds) with its head replaced.
    `stream` forces (True) or forbids (False) streaming batches from host memory; None decides
    by the GPU's free memory. `cache_dir` is where a data set given by name keeps an image
    folder's decoded copy (None: ~/.cache/hpadvisor/folders); one whose images take more than
    `memory_budget` bytes (None: half of the memory available) is streamed from there. With
    `data_fraction` below 1 the trial trains on that share of the training images (a fixed
    subset, `LoadedDataset.training_subset`); with `image_size` below the data set's it builds
    the model for that resolution and every batch (and the validation images) is resized to it
    on the device. `save`
    is called after every epoch's report with the epoch and a function capturing the trial's
    state; `resume` is such a state: training goes on from the epoch after it (`report` is not
    called again for the epochs it holds, which are in the result's history). Raises ValueError
    for invalid configs, names, devices or states.
    """
    started = time.perf_counter()
    trial_config = config if isinstance(config, TrialConfig) else TrialConfig.from_mapping(config)
    # (a mapping or the advisor's typed `Hyperparameters`, validated against the same contract)
    data = (load_dataset(dataset, cache_dir, memory_budget) if isinstance(dataset, str)
            else dataset).training_subset(data_fraction)
    size = int(data.x_train.shape[-1])
    if image_size is not None and not 4 <= image_size <= size:
        raise ValueError(f"image_size: the trial can train at 4 to {size} px (the data set's "
                         f"resolution), got {image_size!r}")
    target = resolve_device(device)
    if trial_config.auto_augment != "none" and data.normalised:
        raise ValueError(f"auto_augment: {trial_config.auto_augment} needs the images as "
                         "stored (uint8 or [0, 1]); this data set holds normalised floats")
    with _thread_count(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trial = _prepare(trial_config, data, model, target, seed, pretrained,
                         Path(weights) if weights else None, stream, image_size or size)
        history = _restore(trial, resume) if resume is not None else []
        history, diverged = _train(trial, report, save, history)
    return TrialResult(
        val_accuracy=history[-1].val_accuracy,
        best_val_accuracy=max(epoch.val_accuracy for epoch in history),
        history=history,
        seconds=time.perf_counter() - started,
        images_per_second=_overall_throughput(history),
        device=str(target),
        diverged=diverged,
        pretrained=trial.built.pretrained,
        input_note=trial.built.input_note,
        config=trial_config,
        module=trial.model,
        mean=_values(trial.normaliser.mean),
        std=_values(trial.normaliser.std),
        channels=trial.built.in_channels,
        input_size=trial.normaliser.size or int(data.x_train.shape[-1]),
    )


def _values(column: Tensor | None) -> tuple[float, ...] | None:
    return None if column is None else tuple(float(v) for v in column.flatten().tolist())


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


def normaliser_for(data: LoadedDataset, built: BuiltModel,
                   device: torch.device) -> Normaliser:
    """The input normalisation for this data set and model (also used by worker.probe)."""
    mean, std = (built.mean, built.std) if built.mean is not None else (data.mean, data.std)
    channels = data.profile.channels if data.x_train.ndim < 4 else data.x_train.shape[1]
    if mean is not None and len(mean) != channels:  # RGB statistics, grey images
        mean, std = (sum(mean) / len(mean),), (sum(std or ()) / len(std or (1,)),)

    def column(values: tuple[float, ...] | None) -> Tensor | None:
        if values is None:
            return None
        return torch.tensor(values, device=device, dtype=torch.float32).view(1, -1, 1, 1)

    repeat = built.in_channels // channels if built.in_channels != channels else 1
    size = built.input_size if built.input_size != data.x_train.shape[-1] else None
    return Normaliser(column(mean), column(std), repeat, size)


def _prepare(
    config: TrialConfig, data: LoadedDataset, model_name: str, device: torch.device, seed: int,
    pretrained: bool = False, weights: Any = None, stream: bool | None = None,
    image_size: int | None = None,
) -> _Trial:
    profile = data.profile
    flip_wanted = profile.horizontal_flip_ok if config.horizontal_flip is None else (
        config.horizontal_flip
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        built = build(model_name, profile.num_classes, data.x_train.shape[1],
                      image_size or int(data.x_train.shape[-1]), pretrained=pretrained,
                      weights=weights)
    model = built.module.to(device, memory_format=torch.channels_last)
    num_train = len(data.y_train)
    batch_size = min(config.batch_size, num_train)
    steps_per_epoch = num_train // batch_size
    groups = parameter_groups(model, config.weight_decay, config.no_bias_decay)
    generator = torch.Generator(device=device).manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    optimizer = build_optimizer(config.optimizer, groups, config.learning_rate, config.momentum)
    normaliser = normaliser_for(data, built, device)
    train = Batches.place(data.x_train, data.y_train, device, stream, seed, batch_size)
    return _Trial(
        config=config,
        data=data,
        device=device,
        built=built,
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, config.lr_schedule, config.epochs,
                                  steps_per_epoch, config.warmup_epochs, config.warmup_start_lr,
                                  config.lr_schedule_params),
        augment=BatchAugmenter(config, flip_wanted and profile.horizontal_flip_ok,
                               profile.num_classes, generator, np.random.default_rng(seed),
                               normaliser),
        normaliser=normaliser,
        generator=generator,
        train=train,
        x_val=data.x_val if train.streamed else data.x_val.to(device),  # streamed: per batch
        y_val=data.y_val.to(device),
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        eval_batch=min(EVAL_BATCH_SIZE, data.x_val.window_images)
        if isinstance(data.x_val, DiskImages) else EVAL_BATCH_SIZE,
    )


def capture_state(trial: _Trial, history: list[EpochResult]) -> dict[str, Any]:
    """Everything needed to go on from the end of `history`'s last epoch (copied off the
    device, so training can go on while it is written)."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state(),
                           "generator": trial.generator.get_state().cpu(),
                           "numpy": trial.augment.rng.bit_generator.state}
    if trial.train.host_generator is not None:
        rng["host"] = trial.train.host_generator.get_state()
    if trial.device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(trial.device)

    def host(value: Any) -> Any:
        if isinstance(value, Tensor):
            return value.detach().to("cpu", copy=True)
        if isinstance(value, dict):
            return {key: host(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(host(item) for item in value)
        return value

    return {"format": STATE_FORMAT, "epoch": len(history), "step": trial.step,
            "model": host(trial.model.state_dict()),
            "optimizer": host(trial.optimizer.state_dict()),
            "scheduler": trial.scheduler.state_dict(), "rng": rng,
            "history": [dataclasses.asdict(epoch) for epoch in history]}


def _restore(trial: _Trial, state: Mapping[str, Any]) -> list[EpochResult]:
    """Put a captured state back into a freshly prepared trial; the epochs it holds."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"resume: a state of format {state.get('format')!r}; this trainer "
                         f"reads format {STATE_FORMAT}")
    history = [EpochResult(**epoch) for epoch in state["history"]]
    if len(history) != state["epoch"] or state["epoch"] >= trial.config.epochs:
        raise ValueError(f"resume: the state ends at epoch {state['epoch']} of a trial of "
                         f"{trial.config.epochs}")
    trial.model.load_state_dict(state["model"])
    trial.optimizer.load_state_dict(state["optimizer"])
    trial.scheduler.load_state_dict(state["scheduler"])
    trial.step = int(state["step"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    trial.generator.set_state(rng["generator"])
    trial.augment.rng.bit_generator.state = rng["numpy"]
    if trial.train.host_generator is not None and "host" in rng:
        trial.train.host_generator.set_state(rng["host"])
    if trial.device.type == "cuda" and "cuda" in rng:
        torch.cuda.set_rng_state(rng["cuda"], trial.device)
    return history


def _train(
    trial: _Trial, report: Callable[[EpochResult], None] | None,
    save: SaveHook | None = None, history: list[EpochResult] | None = None,
) -> tuple[list[EpochResult], bool]:
    history = list(history or [])
    epochs = trial.config.epochs
    for epoch in range(len(history) + 1, epochs + 1):
        epoch_started = time.perf_counter()
        train_loss, train_accuracy, learning_rate = _train_epoch(trial)
        train_seconds = time.perf_counter() - epoch_started
        val_loss, val_accuracy = evaluate(trial.model, trial.x_val, trial.y_val, trial.device,
                                          trial.normaliser, trial.eval_batch)
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
        if save is not None and epoch < epochs:
            save(epoch, lambda: capture_state(trial, history))
    return history, False


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _logits(output: Any) -> Tensor:
    """Models that return several outputs in training mode give the main logits first."""
    return output if isinstance(output, Tensor) else output[0]


def _train_epoch(trial: _Trial) -> tuple[float, float, float]:
    """One pass over a fresh permutation; returns (mean loss, accuracy, last learning rate)."""
    model, optimizer, config = trial.model, trial.optimizer, trial.config
    model.train()
    loss_sum = torch.zeros((), device=trial.device)
    correct = torch.zeros((), device=trial.device, dtype=torch.int64)
    learning_rate = config.learning_rate

    # a streamed batch is copied while the step before it computes
    for images, labels in trial.train.epoch(trial.generator, trial.batch_size,
                                            trial.steps_per_epoch):
        images, targets = trial.augment(images, labels)
        images = images.contiguous(memory_format=torch.channels_last)
        learning_rate = float(optimizer.param_groups[0]["lr"])
        with _autocast(trial.device):
            logits = _logits(model(images))
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        trial.scheduler.step()
        trial.step += 1
        loss_sum += loss.detach() * len(labels)
        correct += (logits.detach().argmax(dim=1) == labels).sum()
    seen = trial.steps_per_epoch * trial.batch_size
    return loss_sum.item() / seen, correct.item() / seen, learning_rate


def evaluate(model: nn.Module, images: Tensor | DiskImages, labels: Tensor,
             device: torch.device, normaliser: Normaliser | None = None,
             batch_size: int = EVAL_BATCH_SIZE):
    """(mean cross-entropy, accuracy) of `model` on the given images (read from disk a batch
    at a time when they are `DiskImages`), in batches of `batch_size`."""
    model.eval()
    prepare = normaliser or Normaliser(None, None)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    with torch.inference_mode(), _autocast(device):
        for start in range(0, len(labels), batch_size):
            batch_labels = labels[start : start + batch_size]
            batch = prepare(images[start : start + batch_size].to(device))
            logits = _logits(model(batch.contiguous(memory_format=torch.channels_last))).float()
            loss_sum += F.cross_entropy(logits, batch_labels, reduction="sum")
            correct += (logits.argmax(dim=1) == batch_labels).sum()
    model.train()
    return loss_sum.item() / len(labels), correct.item() / len(labels)


def _overall_throughput(history: list[EpochResult]) -> float:
    train_seconds = sum(1.0 / e.images_per_second for e in history)
    return len(history) / train_seconds if train_seconds > 0 else 0.0
