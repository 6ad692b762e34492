"""Reading training curves: `diagnose` takes per-epoch curves and returns a state and changes.

The states follow the guidance's reading of train against validation accuracy: train a little
above or level with validation is healthy, far above is overfitting, below is underfitting. A
blown-up loss is diverging; curves still climbing at the end have not converged. The changes
for each state come from the rules in `advisor.rules.diagnosis`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from advisor.rules.diagnosis import DIAGNOSIS_RULES
from advisor.schemas import Change, Curves, Diagnosis, DiagnosisState

#: Train accuracy this far above validation accuracy is overfitting (guidance: "much higher").
OVERFIT_GAP = 0.05
#: Validation this far above train is underfitting (train below validation, with margin).
UNDERFIT_GAP = 0.01
#: Mean gain per epoch over the last quarter above which a curve is still climbing.
STILL_RISING = 0.004
#: Train accuracy this high means the training set is memorised, whatever validation does.
SATURATED = 0.97


def _as_fraction(values: list[float]) -> list[float]:
    return [v / 100 for v in values] if max(values, default=0) > 1.0 else list(values)


def _slope(values: list[float]) -> float:
    tail = values[-max(2, len(values) // 4):]
    return (tail[-1] - tail[0]) / max(1, len(tail) - 1)


def _finite(values: list[float] | None) -> bool:
    return values is None or all(math.isfinite(v) for v in values)


def measure(curves: Curves) -> dict[str, float]:
    """The measurements `classify` reads (accuracies as fractions; slopes per epoch)."""
    train, val = _as_fraction(curves.train_accuracy), _as_fraction(curves.val_accuracy)
    return {
        "epochs": float(len(train)),
        "final_train_accuracy": train[-1],
        "final_val_accuracy": val[-1],
        "best_val_accuracy": max(val),
        "gap": train[-1] - val[-1],
        "val_drop_from_best": max(val) - val[-1],
        "train_slope": _slope(train),
        "val_slope": _slope(val),
        "train_drop_from_best": max(train) - train[-1],
    }


def _diverged(curves: Curves, measures: dict[str, float]) -> bool:
    losses = [curves.train_loss, curves.val_loss]
    if not all(_finite(loss) for loss in losses):
        return True
    if not (_finite(curves.train_accuracy) and _finite(curves.val_accuracy)):
        return True
    loss = curves.train_loss
    if loss and len(loss) >= 3 and loss[-1] > 2 * min(loss) and loss[-1] > loss[0]:
        return True
    return measures["train_drop_from_best"] > 0.2


def classify(curves: Curves, measures: dict[str, float]) -> tuple[DiagnosisState, str]:
    gap = measures["gap"]
    if _diverged(curves, measures):
        return "diverging", "the loss blew up or accuracy collapsed during training"
    val_still_rising = measures["val_slope"] > STILL_RISING
    if gap > OVERFIT_GAP and (not val_still_rising or measures["val_drop_from_best"] > 0.02
                              or measures["final_train_accuracy"] >= SATURATED):
        return "overfitting", (f"train accuracy ends {gap:.1%} above validation accuracy; a "
                               "healthy run keeps them within a few points")
    if gap > OVERFIT_GAP:
        return "not_converged", (f"train accuracy ends {gap:.1%} above validation accuracy, "
                                 "but validation accuracy was still rising: train longer, "
                                 "then judge the gap")
    if gap < -UNDERFIT_GAP:
        return "underfitting", (f"train accuracy ends {-gap:.1%} below validation accuracy: "
                                "regularisation makes training harder than it needs to be")
    if measures["train_slope"] > STILL_RISING and measures["val_slope"] > STILL_RISING:
        return "not_converged", ("both accuracies were still rising over the last quarter of "
                                 "training")
    return "healthy", "train and validation accuracy end close together and have levelled off"


def diagnose(curves: Curves | Mapping[str, Any]) -> Diagnosis:
    """Read a run's curves and say what to change.

    >>> d = diagnose({"train_accuracy": [0.6, 0.8, 0.95, 0.99],
    ...               "val_accuracy": [0.55, 0.7, 0.74, 0.75],
    ...               "config": {"weight_decay": 3e-5, "label_smoothing": 0.1}})
    >>> d.state, d.changes[0].action
    ('overfitting', 'raise weight_decay from 3e-5 to 9e-5')
    """
    if not isinstance(curves, Curves):
        curves = Curves.model_validate(curves)
    measures = measure(curves)
    state, summary = classify(curves, measures)
    changes = []
    for rule in DIAGNOSIS_RULES:
        if rule.state != state:
            continue
        proposal = rule.propose(dict(curves.config))
        if proposal is not None:
            changes.append(Change(
                key=rule.key, current=proposal.current, suggested=proposal.suggested,
                action=proposal.action, rule=rule.id, reason=proposal.reason,
                sources=[s.source() for s in rule.sources]))
    return Diagnosis(state=state, evidence=measures, summary=summary, changes=changes)
