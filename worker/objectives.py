"""Objectives a worker can run: the built-in `image-classification` and any registered by the
Python entry-point group `hpadvisor.objectives`.

An objective is a callable taking a `TrialContext` and returning the value to maximise. It
reports per-epoch values through `ctx.report`, which feeds Optuna's pruner and records the
curves on the trial; raising from it (pruning, cancellation) stops the trial.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import optuna

from worker import best_model, probe
from worker.checkpoints import ArtifactStore, TrialCheckpoints
from worker.schemas import BUILTIN_OBJECTIVE

log = logging.getLogger("hpadvisor.worker")

ENTRY_POINT_GROUP = "hpadvisor.objectives"
CURVES_ATTR = "curves"
CONFIG_ATTR = "config"
#: What the built model was: its input note and, fine-tuned, the weights file, tensors loaded
#: and head tensors replaced.
MODEL_ATTR = "model"
#: The worker (host:pid) that ran the trial, and its slot in a pool (gpu1, slot0).
WORKER_ATTR = "worker"
SLOT_ATTR = "slot"


@dataclass
class TrialContext:
    """What an objective needs for one trial, and the `report` hook back to the worker."""

    trial: optuna.Trial
    config: dict[str, Any]
    dataset: str
    model: str
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    pretrained: bool = False
    #: Where the trainer caches decoded image folders (`Settings.cache_dir`; None: its default).
    cache_dir: Path | None = None
    #: Bytes of memory the data set's images may take (`Settings.memory_budget`; None: half of
    #: the memory available); a larger image folder is streamed from its cache on disk.
    memory_budget: int | None = None
    #: The share of the training images and the resolution the trial trains on
    #: (`training.data_fraction`, `training.image_size` of the job; None: the data set's).
    data_fraction: float = 1.0
    image_size: int | None = None
    on_epoch: Callable[[int, int, float], None] | None = None
    curves: dict[str, list[float]] = field(default_factory=dict)
    #: Optuna's artifact store for checkpoints and the best model (None: neither is kept).
    artifacts: ArtifactStore | None = None
    #: Seconds of training between checkpoints (taken at the next epoch end).
    checkpoint_s: float = 300.0

    def restore(self, history: list[dict[str, float]]) -> None:
        """Epochs a resumed trial restored from its checkpoint: reported to this trial once
        (the pruner sees one history) and put in its curves, without a pruning decision (the
        interrupted trial took those)."""
        for epoch in history:
            self.trial.report(epoch["val_accuracy"], int(epoch["epoch"]))
            for name in ("val_accuracy", "train_accuracy", "train_loss", "val_loss"):
                self.curves.setdefault(name, []).append(float(epoch[name]))

    def report(self, epoch: int, value: float, *, epochs: int | None = None,
               **metrics: float) -> None:
        """Record epoch `epoch` (1-based): `value` goes to Optuna's pruner, metrics (train and
        validation accuracy and loss) to the trial's curves. Raises TrialPruned when the pruner
        says so, or whatever `on_epoch` raises (the job was cancelled)."""
        for name, metric in {"val_accuracy": value, **metrics}.items():
            self.curves.setdefault(name, []).append(float(metric))
        self.trial.report(value, epoch)
        total = epochs or int(self.config.get("epochs", 0))
        diverged = probe.diverged(self.curves)  # stopped at once, whatever the pruner says
        pruned = diverged is not None or self.trial.should_prune()
        if pruned or epoch >= total:  # the curves are written once, when the trial ends
            self.trial.set_user_attr(CURVES_ATTR, self.curves)
        if self.on_epoch is not None:
            self.on_epoch(epoch, total, value)
        if pruned:
            raise optuna.TrialPruned(diverged or f"pruned at epoch {epoch} with {value:.4f}")


Objective = Callable[[TrialContext], float]


def image_classification(ctx: TrialContext) -> float:
    """Train the trial runner's model on the registered data set with `ctx.config` (from the
    job's local pretrained weights when it asked for them)."""
    from worker.trainer import EpochResult, run_trial  # torch: imported by workers only

    def report(result: EpochResult) -> None:
        ctx.report(result.epoch, result.val_accuracy, epochs=result.epochs,
                   train_accuracy=result.train_accuracy, train_loss=result.train_loss,
                   val_loss=result.val_loss)

    import torch

    checkpoints = None if ctx.artifacts is None else TrialCheckpoints(
        ctx.artifacts, ctx.trial, ctx.checkpoint_s,
        load=lambda path: torch.load(path, weights_only=True, map_location="cpu"),
        dump=lambda state, path: torch.save(state, path))
    resume = checkpoints.resume_state() if checkpoints is not None else None
    if resume is not None:
        ctx.restore(resume["history"])
    try:
        result = run_trial(ctx.config, ctx.dataset, ctx.model, device=ctx.device, seed=ctx.seed,
                           threads=ctx.threads, report=report, pretrained=ctx.pretrained,
                           cache_dir=ctx.cache_dir, memory_budget=ctx.memory_budget,
                           data_fraction=ctx.data_fraction, image_size=ctx.image_size,
                           resume=resume,
                           save=checkpoints.save if checkpoints is not None else None)
    except optuna.TrialPruned:
        if checkpoints is not None:
            checkpoints.discard()
        raise
    if checkpoints is not None:
        checkpoints.discard()
        try:
            meta = best_model.TrialMeta(ctx.trial, ctx.dataset, ctx.model, ctx.pretrained,
                                        ctx.config)
            best_model.keep_if_best(meta, result, checkpoints.store)
        except Exception as error:  # the trial's value stands; only its weights are not kept
            log.warning("trial %d: model file not kept: %s", ctx.trial.number,
                        str(error).splitlines()[0])
    model: dict[str, Any] = {"input_note": result.input_note}
    if result.pretrained is not None:
        model["pretrained"] = dataclasses.asdict(result.pretrained)
    ctx.trial.set_user_attr(MODEL_ATTR, model)
    return float(result.val_accuracy)


@functools.cache
def registered_objectives() -> dict[str, Objective]:
    """The built-in objective and every `hpadvisor.objectives` entry point, by name."""
    found: dict[str, Objective] = {BUILTIN_OBJECTIVE: image_classification}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found[point.name] = point.load()
    return found


def get_objective(name: str) -> Objective:
    objectives = registered_objectives()
    if name not in objectives:
        raise KeyError(f"objective {name!r} is not registered on this worker; it offers "
                       f"{', '.join(sorted(objectives))}")
    return objectives[name]
