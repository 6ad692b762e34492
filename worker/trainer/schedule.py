"""Learning-rate schedules from `torch.optim.lr_scheduler`, stepped once per optimisation step.

The optimizer's learning rate is the peak. A linear warmup (`LinearLR`) over the first
``warmup_epochs`` (counted in steps) rises from ``warmup_start_lr`` to the peak; the decay then
runs over the remaining steps (`SequentialLR` joins the two):

* ``cosine`` - `CosineAnnealingLR`: half a cosine from the peak to 0 at the last step.
* ``piecewise`` - `MultiStepLR`: the peak times ``gamma`` for every milestone passed;
  milestones are epochs from the start of training.
* ``exponential`` - `ExponentialLR`: the peak times ``gamma_per_epoch`` per epoch after warmup
  (spread over the steps).

Parameters not given are the advisor's defaults for the run's length
(`advisor.schedules.params_for`: 30/60/90 of 120 epochs, divide by 10; 0.97 every 2.4 epochs on
long runs, ending at 1% of the peak on short ones), so trainer and advisor never disagree.
* ``constant`` - `ConstantLR` with factor 1: the peak.

`LinearLR` cannot start from exactly 0, so a warmup from 0 starts at 1e-8 of the peak (and it
cannot start above the peak: a ``warmup_start_lr`` above it starts at the peak).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.optim import lr_scheduler

from advisor.schedules import params_for
from advisor.schemas import ScheduleName
from worker.trainer.config import SCHEDULES

MIN_START_FACTOR = 1e-8

__all__ = ["SCHEDULES", "build_scheduler", "schedule_values"]


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: ScheduleName,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    warmup_start_lr: float = 0.0,
    params: Mapping[str, Any] | None = None,
) -> lr_scheduler.LRScheduler:
    """torch's scheduler for `epochs` epochs of `steps_per_epoch` steps (params validated by
    `TrialConfig`); call its ``step()`` after every optimizer step."""
    params = params_for(name, epochs, params)
    peak = float(optimizer.param_groups[0]["lr"])
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    decay_steps = max(epochs * steps_per_epoch - warmup_steps, 1)
    main: lr_scheduler.LRScheduler
    if name == "cosine":
        main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay_steps, eta_min=0.0)
    elif name == "piecewise":
        milestones: Sequence[float] = params["milestones"]
        steps = sorted(max(1, round(m * steps_per_epoch) - warmup_steps) for m in milestones)
        main = lr_scheduler.MultiStepLR(optimizer, milestones=steps, gamma=float(params["gamma"]))
    elif name == "exponential":
        per_epoch = params["gamma_per_epoch"]
        main = lr_scheduler.ExponentialLR(optimizer, gamma=float(per_epoch) ** (
            1 / steps_per_epoch))
    elif name == "constant":
        main = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        raise ValueError(f"lr_schedule: unknown schedule {name!r}; allowed: "
                         f"{', '.join(SCHEDULES)}")
    if warmup_steps == 0:
        return main
    start = max(warmup_start_lr / peak, MIN_START_FACTOR) if peak > 0 else 1.0
    warmup = lr_scheduler.LinearLR(optimizer, start_factor=min(start, 1.0), end_factor=1.0,
                                   total_iters=warmup_steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _QuietSequentialLR(optimizer, [warmup, main], milestones=[warmup_steps])


class _QuietSequentialLR(lr_scheduler.SequentialLR):
    """`SequentialLR` restarts the next schedule with the deprecated ``step(0)`` and warns at
    every milestone; that warning is about torch's own call, not ours."""

    def step(self) -> None:  # type: ignore[override]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            super().step()


def schedule_values(name: str, peak: float, epochs: int, steps_per_epoch: int,
                    warmup_epochs: float = 0.0, warmup_start_lr: float = 0.0,
                    params: Mapping[str, Any] | None = None,
                    steps: int | None = None) -> list[float]:
    """The learning rate of each of the first `steps` steps (default: all) of such a schedule,
    as the optimizer sees them (for tests and plots)."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    scheduler = build_scheduler(optimizer, name, epochs, steps_per_epoch, warmup_epochs,
                                warmup_start_lr, params)
    values = []
    for _ in range(epochs * steps_per_epoch if steps is None else steps):
        values.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()
        scheduler.step()
    return values
