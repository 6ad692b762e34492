"""What the full run should use when a job's trials trained on less (`training.data_fraction`,
`training.image_size`): the best trial's tuned values carried over to the whole data set.

The advisor answered twice when the job was created: for the trials' own numbers (the job's
`recommendation`) and for the whole data set at its resolution (`Job.full_run`). Their rules
already say how a value moves between the two set-ups (the learning rate with the batch, the
steps and the data size; the weight decay with the schedule's length; ...), so a tuned numeric
value is carried over by the same factor: ``best x full advice / trial advice``. A categorical
choice, or a value the advice set to zero in either set-up, is kept as the trial found it.
Everything not tuned is the full run's advice.
"""

from __future__ import annotations

from typing import Any


def full_run_result(trial_advice: dict[str, Any], full_advice: dict[str, Any],
                    best_params: dict[str, Any]) -> dict[str, Any]:
    """``{"hyperparameters": ..., "carried_over": [...]}``: the full run's configuration, and
    for each tuned key how its value was carried over, in words."""
    hyperparameters = dict(full_advice["hyperparameters"])
    carried: list[str] = []
    for key, found in best_params.items():
        trial_value = trial_advice["hyperparameters"].get(key)
        full_value = hyperparameters.get(key)
        if _positive(found) and _positive(trial_value) and _positive(full_value):
            factor = float(full_value) / float(trial_value)
            hyperparameters[key] = float(found) * factor
            carried.append(f"{key}: the best trial's {_fmt(found)} x {_fmt(factor)} (the advice "
                           f"for the full run, {_fmt(full_value)}, over the advice for the "
                           f"trials, {_fmt(trial_value)}) = {_fmt(hyperparameters[key])}")
        else:
            hyperparameters[key] = found
            carried.append(f"{key}: {_fmt(found)} as the best trial found it")
    return {"hyperparameters": hyperparameters, "carried_over": carried}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
