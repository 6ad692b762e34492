"""Similar finished studies: which records are similar, and how far they move each value.

The calibration rules (`advisor.rules.calibration`) apply what this module computes.

Similarity is explicit (`similar`): the same optimizer family, model size within a factor of
4, data-set size within a factor of 10, images within a factor of 2 in side, the same
pretrained/from-scratch set-up, and at least MIN_COMPLETE_TRIALS complete trials. Among
similar records, a log-scaled value moves by the geometric-mean ratio best/advised, shrunk by
n/(n + PRIOR_STUDIES) and bounded to MAX_FACTOR, and only when the records agree (the mean is
larger than its standard error). A categorical
default (the schedule) flips only when at least MIN_FLIP_STUDIES similar studies and 3/4 of
them won with the same other value. With no similar evidence the recommendation is exactly the
rule-based one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from advisor.profile import ModelProfile
from advisor.schemas import EvidenceRecord, RecommendationRequest

PRIOR_STUDIES = 2.0
#: A study with fewer complete trials has not located its best value: not evidence.
MIN_COMPLETE_TRIALS = 5
MAX_FACTOR = 10.0
MAX_SHIFT = 0.1  # for linear keys such as label smoothing
MIN_FLIP_STUDIES = 3
FLIP_SHARE = 0.75
LOG_KEYS = ("learning_rate", "weight_decay")
LINEAR_KEYS = ("label_smoothing", "mixup_alpha", "cutmix_alpha", "random_erasing")
CATEGORICAL_KEYS = ("lr_schedule",)


def similar(record: EvidenceRecord, request: RecommendationRequest, model: ModelProfile,
            optimizer: str) -> bool:
    p = record.profile
    return (record.n_complete >= MIN_COMPLETE_TRIALS
            and p.optimizer == optimizer
            and 0.25 <= p.params_millions / model.params_millions <= 4
            and 0.1 <= p.num_train_images / request.dataset.num_train_images <= 10
            and 0.5 <= p.image_size / request.dataset.image_size <= 2
            and p.pretrained == request.training.pretrained)


@dataclass(frozen=True)
class Shift:
    """How the evidence moves one key: the factor (log keys) or offset (linear keys). `raw` is
    None when the studies disagree on the direction (the value is then kept)."""

    key: str
    raw: float | None
    applied: float
    jobs: tuple[str, ...]
    log: bool

    def describe(self, before: float, after: float) -> str:
        n = len(self.jobs)
        jobs = ", ".join(self.jobs)
        studies = f"{n} similar finished stud{'y' if n == 1 else 'ies'} (jobs {jobs})"
        if self.raw is None:
            return (f"{studies} disagree on which way to move it, so it stays at "
                    f"{before:.3g}")
        if self.applied == 0:
            return f"{studies} found the best value at the advice: {before:.3g} confirmed"
        if self.log:
            return (f"calibrated by {n} similar finished stud{'y' if n == 1 else 'ies'} "
                    f"(jobs {jobs}): their best values were {math.exp(self.raw):.3g}x the "
                    f"advice (geometric mean); shrunk by {n}/({n}+{PRIOR_STUDIES:g}) and "
                    f"bounded to {MAX_FACTOR:g}x that is x{math.exp(self.applied):.3g}: "
                    f"{before:.3g} -> {after:.3g}")
        return (f"calibrated by {n} similar finished stud{'y' if n == 1 else 'ies'} (jobs "
                f"{jobs}): their best values were {self.raw:+.3g} from the advice on average; "
                f"shrunk and bounded that is {self.applied:+.3g}: {before:.3g} -> {after:.3g}")


def _agreeing_mean(samples: Sequence[float]) -> float | None:
    """The mean when the samples agree on a direction (mean beyond one standard error)."""
    n = len(samples)
    mean = sum(samples) / n
    if n == 1:
        return mean
    spread = math.sqrt(sum((s - mean) ** 2 for s in samples) / (n - 1))
    return mean if spread == 0 or abs(mean) > spread / math.sqrt(n) else None


def numeric_shifts(records: Sequence[EvidenceRecord]) -> dict[str, Shift]:
    shifts: dict[str, Shift] = {}
    for key, log in [(k, True) for k in LOG_KEYS] + [(k, False) for k in LINEAR_KEYS]:
        used = [r for r in records if key in (r.log_ratios if log else r.differences)]
        if not used:
            continue
        samples = [r.log_ratios[key] if log else r.differences[key] for r in used]
        mean = _agreeing_mean(samples)
        jobs = tuple(str(r.job_id) for r in used)
        if mean is None:
            shifts[key] = Shift(key, None, 0.0, jobs, log)
            continue
        shrunk = mean * len(used) / (len(used) + PRIOR_STUDIES)
        bound = math.log(MAX_FACTOR) if log else MAX_SHIFT
        shifts[key] = Shift(key, mean, max(-bound, min(bound, shrunk)), jobs, log)
    return shifts


def categorical_flips(records: Sequence[EvidenceRecord]) -> dict[str, tuple[object, list[str]]]:
    flips: dict[str, tuple[object, list[str]]] = {}
    if len(records) < MIN_FLIP_STUDIES:
        return flips
    for key in CATEGORICAL_KEYS:
        winners = [r.categorical_wins[key] for r in records if key in r.categorical_wins]
        for value in set(map(str, winners)):
            voters = [str(r.job_id) for r in records if str(r.categorical_wins.get(key)) == value]
            if len(voters) / len(records) >= FLIP_SHARE:
                original = next(r.categorical_wins[key] for r in records
                                if str(r.categorical_wins.get(key)) == value)
                flips[key] = (original, voters)
    return flips


def select(records: Iterable[EvidenceRecord], request: RecommendationRequest,
           model: ModelProfile, optimizer: str) -> list[EvidenceRecord]:
    return [r for r in records if similar(r, request, model, optimizer)]
