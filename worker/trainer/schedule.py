"""Learning-rate schedules, evaluated per optimisation step.

A linear warmup over the first ``warmup_epochs`` (counted in steps) goes from
``warmup_start_lr`` to the peak ``learning_rate``; the decay schedule then runs over the
remaining steps:

* ``cosine`` - half a cosine from the peak to 0 at the last step boundary.
* ``piecewise`` - the peak times ``gamma`` (default 0.1) for every milestone passed; milestones
  are epochs from the start of training, default at 1/2 and 3/4 of the epochs.
* ``exponential`` - the peak times ``gamma_per_epoch`` per epoch after warmup (fractional
  epochs per step); by default the rate that ends at 1% of the peak.
* ``constant`` - the peak.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("cosine", "piecewise", "exponential", "constant")
EXPONENTIAL_END_FRACTION = 0.01


@dataclass(frozen=True)
class LearningRateSchedule:
    """`schedule(step)` is the learning rate for 0-based optimisation step `step`."""

    name: str
    peak: float
    total_steps: int
    steps_per_epoch: int
    warmup_steps: int = 0
    warmup_start_lr: float = 0.0
    milestones: tuple[float, ...] = ()
    gamma: float = 0.1
    gamma_per_epoch: float = 1.0

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup_start_lr + (self.peak - self.warmup_start_lr) * (
                step / self.warmup_steps
            )
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        progress = min((step - self.warmup_steps) / decay_steps, 1.0)
        if self.name == "cosine":
            return self.peak * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.name == "piecewise":
            passed = bisect.bisect_right(self.milestones, step / self.steps_per_epoch)
            return self.peak * self.gamma**passed
        if self.name == "exponential":
            return self.peak * self.gamma_per_epoch ** ((step - self.warmup_steps) /
                                                        self.steps_per_epoch)
        return self.peak


def build_schedule(
    name: str,
    peak: float,
    epochs: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    warmup_start_lr: float = 0.0,
    params: Mapping[str, Any] | None = None,
) -> LearningRateSchedule:
    """A schedule for `epochs` epochs of `steps_per_epoch` steps (params validated upstream)."""
    params = params or {}
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    decay_epochs = max(epochs - warmup_steps / steps_per_epoch, 1.0 / steps_per_epoch)
    milestones: Sequence[float] = params.get("milestones", (epochs / 2, epochs * 3 / 4))
    gamma_per_epoch = params.get(
        "gamma_per_epoch", EXPONENTIAL_END_FRACTION ** (1.0 / decay_epochs)
    )
    return LearningRateSchedule(
        name=name,
        peak=peak,
        total_steps=epochs * steps_per_epoch,
        steps_per_epoch=steps_per_epoch,
        warmup_steps=warmup_steps,
        warmup_start_lr=warmup_start_lr,
        milestones=tuple(sorted(float(m) for m in milestones)),
        gamma=float(params.get("gamma", 0.1)),
        gamma_per_epoch=float(gamma_per_epoch),
    )
