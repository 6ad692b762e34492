"""Finishing a job: its final state, the result (best trial and its diagnosis, the advisor's
rank, parameter importances) and the evidence record later recommendations learn from.

Reads every trial of the study once, when the job ends; never per trial.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.orm import Session

from advisor import diagnose
from advisor.schemas import EvidenceProfile, EvidenceRecord
from advisor.similar_studies import CATEGORICAL_KEYS, LINEAR_KEYS, LOG_KEYS
from worker import best_model, registry
from worker.checkpoints import ArtifactStore
from worker.full_run import full_run_result
from worker.job_rows import JobRows
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.objectives import CONFIG_ATTR, CURVES_ATTR
from worker.prior_sampler import dropped_prior
from worker.probe import PROBE_ATTR
from worker.states import ACTIVE_STATES, JobState
from worker.store.models import Job, utcnow
from worker.trial_storage import awaiting_rerun

log = logging.getLogger("hpadvisor.worker")
UNFINISHED = (TrialState.RUNNING, TrialState.WAITING)


def finish_if_done(rows: JobRows, study: optuna.Study, job_id: int,
                   artifacts: ArtifactStore | None = None, grace_s: float = 30.0) -> bool:
    """Finish the job when no trial is left to claim or run, nor to re-run (a trial another
    worker has failed as stale within `grace_s` and is queueing again, `awaiting_rerun`);
    exactly one worker does it. With `artifacts`, the best trial's model files are kept and
    named in the result, every other trial's model and every checkpoint removed."""
    job = rows.load(job_id)
    if job is None or job.state not in ACTIVE_STATES:
        return False
    timed_out = (job.timeout_s is not None and job.started_at is not None and
                 (utcnow() - job.started_at).total_seconds() >= job.timeout_s)
    budget_spent = job.trials_claimed >= job.n_trials + job.retries
    if not (budget_spent or timed_out):
        return False
    trials = study.get_trials(deepcopy=False)  # one read: unfinished and awaiting re-run alike
    if any(t.state in UNFINISHED for t in trials) or awaiting_rerun(trials, grace_s):
        return False
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    state: JobState = "succeeded" if complete else "failed"
    if not rows.finish(job_id, state, None if complete else _failure_reason(trials)):
        return False
    result = summarise(study, job, trials, complete, timed_out)
    if artifacts is not None:
        best = next((t for t in complete
                     if t.number == result.get("best", {}).get("trial_number")), None)
        result["model"] = best_model.sweep(artifacts, trials, best)
    with rows.sessions() as session:
        evidence = evidence_record(session, job, complete, result)
    rows.store_result(job_id, result, evidence)
    log.info("job %d %s: best %s, advisor rank %s of %s", job_id, state,
             result.get("best", {}).get("value"), result["advisor"].get("rank"),
             len(complete))
    return True


def _failure_reason(trials: list[FrozenTrial]) -> str:
    reasons = [t.system_attrs.get("fail_reason") for t in trials if t.state == TrialState.FAIL]
    last = next((r for r in reversed(reasons) if r), None)
    return f"no trial completed; last failure: {last}" if last else "no trial completed"


def _advisor_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    mine = [t for t in trials if t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE]
    finished = [t for t in mine if t.state == TrialState.COMPLETE]
    return (finished or mine or [None])[-1]


def _importances(study: optuna.Study, complete: list[FrozenTrial]) -> dict[str, float]:
    if len(complete) < 3 or not complete[0].params:
        return {}
    try:
        return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError) as error:  # e.g. every trial had the same parameters
        log.info("no importances: %s", error)
        return {}


def summarise(study: optuna.Study, job: Job, trials: list[FrozenTrial],
              complete: list[FrozenTrial], timed_out: bool) -> dict[str, Any]:
    counts = {state.name.lower(): sum(t.state == state for t in trials)
              for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    result: dict[str, Any] = {"counts": counts, "timed_out": timed_out,
                              "importances": _importances(study, complete), "advisor": {}}
    if PROBE_ATTR in study.user_attrs:  # what the learning-rate probe found, and what it moved
        result["probe"] = study.user_attrs[PROBE_ATTR]
    if job is not None and job.sampler == "prior":  # whether the trials overruled the prior
        dropped = dropped_prior(study)
        result["prior"] = dropped or {"reason": "the prior held: no finished trial contradicted "
                                                "the advice"}
    mine = _advisor_trial(trials)
    if mine is not None:
        advisor: dict[str, Any] = {"trial_number": mine.number, "state": mine.state.name.lower(),
                                   "value": mine.value, "params": mine.params}
        if mine.state == TrialState.COMPLETE and mine.value is not None:
            better = sum(1 for t in complete if (t.value or 0.0) > mine.value)
            advisor["rank"] = 1 + better
            advisor["percentile"] = round(100 * (1 - better / len(complete)), 1)
        result["advisor"] = advisor
    if complete:
        best = max(complete, key=lambda t: (float(t.value or 0.0), -t.number))
        result["best"] = {"trial_number": best.number, "value": best.value,
                          "params": best.params, "config": best.user_attrs.get(CONFIG_ATTR)}
        curves = best.user_attrs.get(CURVES_ATTR)
        if curves and curves.get("train_accuracy") and curves.get("val_accuracy"):
            diagnosis = diagnose({"train_accuracy": curves["train_accuracy"],
                                  "val_accuracy": curves["val_accuracy"],
                                  "train_loss": curves.get("train_loss"),
                                  "val_loss": curves.get("val_loss"),
                                  "config": best.user_attrs.get(CONFIG_ATTR) or {}})
            result["diagnosis"] = diagnosis.model_dump(mode="json")
        if job is not None and job.full_run is not None:  # the trials trained on less
            result["full_run"] = full_run_result(job.recommendation, job.full_run, best.params)
    return result


def evidence_record(session: Session, job: Job, complete: list[FrozenTrial],
                    result: dict[str, Any]) -> EvidenceRecord | None:
    """What this study says about the advice, as plain data (None without a comparison)."""
    best, advisor = result.get("best"), result.get("advisor", {})
    if not best or advisor.get("rank") is None:
        return None
    rec = job.recommendation
    values = rec["hyperparameters"]
    dims = {d["key"]: d for d in job.search_space}
    advised = {k: d["default"] for k, d in dims.items()}
    # Ratios are taken against the rules' own values, the base calibration multiplies.
    base = {**advised, **{k: v for k, v in rec.get("rule_based", {}).items() if k in advised}}
    best_params = best["params"]
    log_ratios = {k: math.log(best_params[k] / base[k]) for k in LOG_KEYS
                  if k in best_params and base.get(k)}
    differences = {k: float(best_params[k]) - float(base[k]) for k in LINEAR_KEYS
                   if k in best_params and base.get(k) is not None}
    wins = {k: best_params[k] for k in CATEGORICAL_KEYS
            if k in best_params and best_params[k] != advised.get(k)}
    data = registry.find_dataset(session, job.dataset)
    profile = EvidenceProfile(
        model_family=rec.get("model_family"), params_millions=rec["params_millions"],
        # the trials' own numbers, which the advice was for
        num_train_images=max(1, round((data.num_train if data else 1) * job.data_fraction)),
        num_classes=data.num_classes if data else 2,
        image_size=job.trial_image_size or (data.image_size if data else 32),
        batch_size=int(values["batch_size"]), epochs=int(values["epochs"]),
        optimizer=str(values["optimizer"]),
        pretrained=job.pretrained)
    return EvidenceRecord(
        job_id=job.id, profile=profile, advised=advised, best=best_params,
        advised_value=advisor.get("value"), best_value=best["value"],
        advisor_rank=advisor["rank"], advisor_percentile=advisor.get("percentile"),
        n_complete=len(complete), log_ratios=log_ratios, differences=differences,
        categorical_wins=wins, importances=result.get("importances", {}))


