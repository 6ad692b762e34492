"""Decay-schedule parameters, decided here once for the rules, calibration, search and trainer.

Each schedule in `advisor.schemas.ScheduleName` reads its own parameters (`READS`); the others
ignore them. `params_for` is what a schedule of a given length runs with: the given values it
reads, the defaults (`default_params`) for the rest. The advisor's rules advise the defaults, a
search that switches ``lr_schedule`` gets the new schedule's, and the trainer fills in what a
configuration leaves out with the same values::

    >>> default_params("piecewise", 120)
    {'milestones': [30, 60, 90], 'gamma': 0.1}
    >>> params_for("cosine", 90, {"milestones": [30, 60]})
    {}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from advisor.schemas import ScheduleName

#: The parameters each schedule reads.
READS: dict[ScheduleName | str, tuple[str, ...]] = {
    "cosine": (),
    "piecewise": ("milestones", "gamma"),
    "exponential": ("gamma_per_epoch",),
    "constant": (),
}
#: The schedules a search chooses among and calibration may switch to (a constant rate is never
#: advised).
SEARCHED: tuple[ScheduleName, ...] = ("cosine", "piecewise", "exponential")
#: Piecewise decay divides by 10 at each milestone (30/60/90 of 120 epochs).
PIECEWISE_GAMMA = 0.1
#: The RMSProp lineage (EfficientNet, MobileNetV3) multiplies the rate by 0.97 every 2.4 epochs.
RECIPE_GAMMA_PER_EPOCH: float = round(0.97 ** (1 / 2.4), 5)
#: Runs at least this long keep the recipe's per-epoch rate, as published recipes of 150 to 450
#: epochs do; a shorter run would barely decay at it, so it decays to `SHORT_RUN_END` instead.
RECIPE_MIN_EPOCHS = 150
SHORT_RUN_END = 0.01


def piecewise_milestones(epochs: int) -> list[int]:
    """Divide by 10 every quarter (every 30 of 120 epochs) or every third in shorter runs."""
    parts = 4 if epochs >= 100 else 3
    return sorted({max(1, round(epochs * i / parts)) for i in range(1, parts)})


def exponential_gamma_per_epoch(epochs: int) -> float:
    """The recipe's 0.97 every 2.4 epochs on long runs; on shorter ones, the per-epoch factor
    that ends at 1% of the peak."""
    if epochs >= RECIPE_MIN_EPOCHS:
        return RECIPE_GAMMA_PER_EPOCH
    return round(float(SHORT_RUN_END ** (1 / max(1, epochs))), 5)


def default_params(schedule: str, epochs: int) -> dict[str, Any]:
    """What `schedule` runs with over `epochs` epochs when nothing is given."""
    if schedule == "piecewise":
        return {"milestones": piecewise_milestones(epochs), "gamma": PIECEWISE_GAMMA}
    if schedule == "exponential":
        return {"gamma_per_epoch": exponential_gamma_per_epoch(epochs)}
    return {}


def params_for(schedule: str, epochs: int, given: Mapping[str, Any] | None = None
               ) -> dict[str, Any]:
    """The given parameters `schedule` reads (another schedule's are dropped), with the defaults
    for the ones not given."""
    reads = READS.get(schedule, ())
    chosen = {key: value for key, value in (given or {}).items()
              if key in reads and value is not None}
    return {**default_params(schedule, epochs), **chosen}
