"""Rules that fold evidence from finished studies into the rule-based values (last stage).

They apply only when the request came with similar evidence; see `advisor.similar_studies` for
how similarity, shrinkage and bounds are defined.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from advisor import similar_studies
from advisor import sources as src
from advisor.rules._base import CALIBRATE, Context, Decision, Rule
from advisor.rules._format import round_sig
from advisor.rules._registry import register
from advisor.schedules import SEARCHED, default_params

_EVIDENCE = {
    "job_id": 1, "advised": {"learning_rate": 0.1}, "best": {"learning_rate": 1.0},
    "n_complete": 10,
    "log_ratios": {"learning_rate": math.log(10)},
    "profile": {"params_millions": 0.27, "num_train_images": 1437, "num_classes": 10,
                "image_size": 32, "batch_size": 128, "epochs": 15, "optimizer": "sgd"},
}
_REQUEST = {"model": {"name": "resnet20", "params_millions": 0.27},
            "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32},
            "training": {"batch_size": 128, "epochs": 15}}


@register
class NumericCalibration(Rule):
    id = "calibration.numeric"
    sets = ("learning_rate", "weight_decay", *similar_studies.LINEAR_KEYS)
    stage = CALIBRATE
    summary = (
        "The best rate and decay depend on the optimizer, the data and the task, so finished "
        "studies of similar profiles move them: by the shrunk, bounded geometric-mean ratio "
        "of their best values to the advice, and only when the studies agree."
    )
    sources = (src.LEARNING_RATE, src.WEIGHT_DECAY)
    example = ({**_REQUEST, "evidence": [_EVIDENCE]}, {"learning_rate": 0.315})

    def applies(self, ctx: Context) -> bool:
        return bool(ctx.evidence)

    def decide(self, ctx: Context) -> Iterable[Decision]:
        for key, shift in similar_studies.numeric_shifts(ctx.evidence).items():
            before = float(ctx.values[key])
            if shift.log:
                after = round_sig(before * math.exp(shift.applied))
            else:
                after = round(max(0.0, before + shift.applied), 3)
            yield Decision(key, after, shift.describe(before, after))


@register
class ScheduleCalibration(Rule):
    id = "calibration.schedule"
    sets = ("lr_schedule", "lr_schedule_params")
    stage = CALIBRATE
    summary = (
        "The schedule, a categorical default, changes only on strong evidence: at least three "
        "similar studies, three quarters of which won with the same other schedule."
    )
    sources = (src.LEARNING_RATE, src.LR_DECAY)
    example = ({**_REQUEST, "evidence": [
        {**_EVIDENCE, "job_id": job, "log_ratios": {},
         "categorical_wins": {"lr_schedule": "piecewise"}} for job in (1, 2, 3)]},
        {"lr_schedule": "piecewise"})

    def applies(self, ctx: Context) -> bool:
        return len(ctx.evidence) >= similar_studies.MIN_FLIP_STUDIES

    def decide(self, ctx: Context) -> Iterable[Decision]:
        flips = similar_studies.categorical_flips(ctx.evidence)
        if "lr_schedule" not in flips:
            return
        value, jobs = flips["lr_schedule"]
        if value == ctx.values["lr_schedule"] or value not in SEARCHED:
            return
        why = (f"{len(jobs)} of {len(ctx.evidence)} similar studies (jobs {', '.join(jobs)}) "
               f"won with the {value} schedule")
        yield Decision("lr_schedule", value, why)
        yield Decision("lr_schedule_params", default_params(str(value), ctx.epochs), why)
