"""View models of the dashboard's pages: plain functions from `worker` reads to plain data.

The routes in `api.routes.dashboard` call one of these each and hand the result to a template;
the templates only lay it out. No SQL here: every read is a `worker` function (`worker.jobs`,
`worker.evidence`, and the paged, bounded queries of `worker.trials`), so nothing loads a whole
study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from optuna.storages import BaseStorage
from pydantic import ValidationError
from sqlalchemy.orm import Session

from advisor import AdvisorInputError, Recommendation, RecommendationRequest, diagnose, recommend
from advisor.schemas import Diagnosis
from api.dashboard import figures
from worker import evidence as evidence_functions
from worker import jobs as job_functions
from worker import trials as queries
from worker.objectives import CONFIG_ATTR, CURVES_ATTR
from worker.offers import live_offers, waiting_for
from worker.pagination import page_count, page_offset
from worker.states import FINAL_STATES, JOB_STATES, JobState
from worker.store.models import Job

JOBS_PER_PAGE = 25
TRIALS_PER_PAGE = 25
EVIDENCE_PER_PAGE = 50


# --- the jobs list -----------------------------------------------------------------------------

@dataclass
class JobRow:
    id: int
    state: str
    model: str
    dataset: str
    objective: str
    n_trials: int
    done: int
    running: int
    best_value: float | None
    advisor_rank: int | None
    advisor_of: int | None
    created_at: Any

    @property
    def percent(self) -> float:
        return min(100.0, 100.0 * self.done / self.n_trials) if self.n_trials else 0.0


@dataclass
class JobsPage:
    rows: list[JobRow]
    state: str | None
    states: tuple[str, ...]
    page: int
    pages: int
    total: int


def jobs_page(session: Session, state: JobState | None, page: int) -> JobsPage:
    """Newest first, `JOBS_PER_PAGE` a page; trial counts in one grouped query, the advisor's
    rank from the worker's result once the job ended, else live from the study."""
    listed = job_functions.list_jobs(session, state, JOBS_PER_PAGE,
                                     page_offset(page, JOBS_PER_PAGE))
    sids = queries.study_ids(session, [j.study_name for j in listed.items if j.study_name])
    counts = queries.counts_by_study(session, list(sids.values()))
    results = job_functions.results_of(session, [j.id for j in listed.items])
    rows = []
    for job in listed.items:
        sid = sids.get(job.study_name or "")
        count = counts.get(sid, {}) if sid is not None else {}
        result = results.get(job.id) or {}
        best = (result.get("best") or {}).get("value")
        if best is None and job.progress:
            best = job.progress.get("best_value")
        advisor = result.get("advisor") or {}
        rank, of = advisor.get("rank"), (result.get("counts") or {}).get("complete")
        if not result and sid is not None:
            live = queries.advisor_trial(session, sid)
            rank, of = (live.rank, live.of) if live else (None, None)
        rows.append(JobRow(
            id=job.id, state=job.state, model=job.model, dataset=job.dataset,
            objective=job.objective, n_trials=job.n_trials,
            done=sum(count.get(k, 0) for k in ("complete", "pruned", "fail")),
            running=count.get("running", 0), best_value=best, advisor_rank=rank,
            advisor_of=of if rank is not None else None, created_at=job.created_at))
    return JobsPage(rows, state, JOB_STATES, page, page_count(listed.total, JOBS_PER_PAGE),
                    listed.total)


# --- one job -----------------------------------------------------------------------------------

def load_job(session: Session, job_id: int) -> Job:
    """The job's row; JobNotFound when there is none."""
    return job_functions.load_job(session, job_id)


@dataclass
class Live:
    """What Optuna's tables say about a job now: trial counts, the best and the advisor's."""

    sid: int | None
    counts: dict[str, int]
    best: queries.TrialRow | None
    advisor: queries.AdvisorTrial | None


def live(session: Session, job: Job) -> Live:
    """A handful of indexed aggregates, whatever the size of the study."""
    sid = queries.study_id(session, job.study_name)
    return Live(sid, queries.trial_counts(session, sid), queries.best_trial(session, sid),
                queries.advisor_trial(session, sid))


def summary(session: Session, job_id: int, found: Live | None = None) -> dict[str, Any]:
    """What the job page polls: state, the worker's progress line, counts, best, the advisor's
    rank."""
    job = load_job(session, job_id)
    found = found or live(session, job)
    counts, best, mine = found.counts, found.best, found.advisor
    done = counts["complete"] + counts["pruned"] + counts["fail"]
    return {
        "id": job.id, "state": job.state, "final": job.state in FINAL_STATES,
        "n_trials": job.n_trials, "done": done, "counts": counts, "progress": job.progress,
        "error": job.error, "updated_at": job.updated_at.isoformat(),
        "waiting": None if job.state in FINAL_STATES else waiting_for(job, live_offers(session)),
        "best": None if best is None else {"number": best.number, "value": best.value},
        "advisor": None if mine is None else {"number": mine.trial.number,
                                              "state": mine.trial.state,
                                              "value": mine.trial.value,
                                              "rank": mine.rank, "of": mine.of},
    }


@dataclass
class ParamComparison:
    key: str
    advised: Any
    best: Any
    ratio: float | None
    tuned: bool


@dataclass
class Outcome:
    """The best trial against the advisor's configuration, and the best trial's diagnosis."""

    best: queries.TrialRow | None
    advisor: queries.AdvisorTrial | None
    rows: list[ParamComparison]
    diagnosis: Diagnosis | None
    diagnosis_live: bool
    final: bool


def _ratio(best: Any, advised: Any) -> float | None:
    numeric = (int, float)
    if (isinstance(best, numeric) and isinstance(advised, numeric) and not isinstance(best, bool)
            and advised and math.isfinite(float(best))):
        return float(best) / float(advised)
    return None


def outcome(session: Session, job: Job, found: Live | None = None) -> Outcome:
    found = found or live(session, job)
    best, mine = found.best, found.advisor
    advised: dict[str, Any] = dict(job.recommendation.get("hyperparameters", {}))
    best_config: dict[str, Any] = {}
    curves = None
    if best is not None:
        best_config = queries.user_attr(session, best.trial_id, CONFIG_ATTR) or {}
        best_config = {**best_config, **best.params}
        curves = queries.user_attr(session, best.trial_id, CURVES_ATTR)
    keys = list(job.tune) + [k for k in advised if k not in job.tune and k in best_config]
    rows = [ParamComparison(key, advised.get(key), best_config.get(key),
                            _ratio(best_config.get(key), advised.get(key)), key in job.tune)
            for key in keys]
    result = job.result or {}
    diagnosis: Diagnosis | None = None
    is_live = False
    if result.get("diagnosis"):
        diagnosis = Diagnosis.model_validate(result["diagnosis"])
    elif isinstance(curves, dict) and curves.get("val_accuracy") and curves.get("train_accuracy"):
        try:
            diagnosis = diagnose({"train_accuracy": curves["train_accuracy"],
                                  "val_accuracy": curves["val_accuracy"],
                                  "train_loss": curves.get("train_loss"),
                                  "val_loss": curves.get("val_loss"), "config": best_config})
            is_live = True
        except (AdvisorInputError, ValidationError, ValueError):
            diagnosis = None
    return Outcome(best, mine, rows, diagnosis, is_live, job.state in FINAL_STATES)


@dataclass
class JobPage:
    job: Job
    recommendation: Recommendation
    summary: dict[str, Any]
    outcome: Outcome
    trials: queries.TrialsPage
    sort_keys: list[str]
    plots: tuple[figures.Plot, ...]
    chosen_trial: int | None
    importances: dict[str, float] = field(default_factory=dict)


def sort_keys(job: Job) -> list[str]:
    """What the trials table sorts by: number, value, state, or one of the tuned parameters."""
    return [*queries.SORT_KEYS, *job.tune]


def trials_table(session: Session, job: Job, sort: str, order: str, page: int,
                 sid: int | None = None) -> queries.TrialsPage:
    sort = sort if sort in sort_keys(job) else "number"
    order = order if order in ("asc", "desc") else "asc"
    sid = sid if sid is not None else queries.study_id(session, job.study_name)
    return queries.trials_page(session, sid, sort, order, TRIALS_PER_PAGE,
                               page_offset(page, TRIALS_PER_PAGE))


def job_page(session: Session, job_id: int, sort: str = "number", order: str = "asc",
             page: int = 1) -> JobPage:
    job = load_job(session, job_id)
    now = live(session, job)
    found = outcome(session, job, now)
    return JobPage(
        job=job, recommendation=Recommendation.model_validate(job.recommendation),
        summary=summary(session, job_id, now), outcome=found,
        trials=trials_table(session, job, sort, order, page, now.sid),
        sort_keys=sort_keys(job), plots=figures.PLOTS,
        chosen_trial=found.best.number if found.best else None,
        importances=dict((job.result or {}).get("importances") or {}))


def plot(session: Session, storage: BaseStorage, job_id: int, name: str,
         trial: int | None = None) -> dict[str, Any]:
    """The figure `name` of the job as Plotly JSON, or a message saying what it still needs."""
    job = load_job(session, job_id)
    sid = queries.study_id(session, job.study_name)
    if name == "curves":
        row = (queries.trial_by_number(session, sid, trial) if trial is not None
               else queries.best_trial(session, sid))
        if row is None:
            return {"message": "No trial to show yet." if trial is None
                    else f"This job has no trial {trial}."}
        return figures.curves_figure(row.number, queries.user_attr(session, row.trial_id,
                                                                   CURVES_ATTR))
    counts = queries.trial_counts(session, sid)
    key = (str(queries.rdb(storage).url), job.study_name, name, tuple(sorted(counts.items())))
    cached = _FIGURES.get(key)
    if cached is not None:
        return cached
    cap = figures.SAMPLE_CAPS.get(name, figures.DEFAULT_CAP)
    sample = queries.sample_trials(session, storage, sid, cap=cap, best=cap // 5)
    importances = (job.result or {}).get("importances")
    answer = figures.optuna_figure(name, sample.trials, sample.total, importances)
    if len(_FIGURES) >= FIGURE_CACHE_SIZE:
        _FIGURES.pop(next(iter(_FIGURES)))
    _FIGURES[key] = answer
    return answer


#: Figures by (study, plot, trial counts by state): a study whose counts have not moved draws
#: the same figure, so reloading a finished job's page costs nothing. Oldest out first.
_FIGURES: dict[tuple[Any, ...], dict[str, Any]] = {}
FIGURE_CACHE_SIZE = 64


# --- recommend ---------------------------------------------------------------------------------

#: The form's fields, in the order shown; empty ones are left to the advisor.
PROFILE_FIELDS = ("model", "params_millions", "family", "num_train_images", "num_classes",
                  "image_size", "no_flip", "batch_size", "num_gpus", "epochs", "pretrained",
                  "goal", "optimizer", "augmentation")


@dataclass
class RecommendPage:
    form: dict[str, str]
    recommendation: Recommendation | None
    errors: list[str]
    request: dict[str, Any] | None
    keys_required: bool
    datasets: list[Any] = field(default_factory=list)
    trainer_models: list[str] = field(default_factory=list)
    tunable: list[str] = field(default_factory=list)
    default_tuned: list[str] = field(default_factory=list)


def profile_request(form: dict[str, str]) -> dict[str, Any]:
    """The recommendation request for the form's (non-empty) fields."""
    def given(name: str) -> str | None:
        value = form.get(name, "").strip()
        return value or None

    model = {"name": given("model"), "params_millions": given("params_millions"),
             "family": given("family")}
    dataset = {"num_train_images": given("num_train_images"),
               "num_classes": given("num_classes"), "image_size": given("image_size"),
               "horizontal_flip_ok": False if form.get("no_flip") else None}
    training = {"batch_size": given("batch_size"), "num_gpus": given("num_gpus"),
                "epochs": given("epochs"), "pretrained": bool(form.get("pretrained")),
                "goal": given("goal"), "optimizer": given("optimizer"),
                "augmentation": given("augmentation")}

    def drop_empty(part: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in part.items() if value is not None}

    return {"model": drop_empty(model), "dataset": drop_empty(dataset),
            "training": drop_empty(training)}


def _messages(error: ValidationError) -> list[str]:
    return [f"{'.'.join(str(part) for part in item['loc']) or 'profile'}: {item['msg']}"
            for item in error.errors()]


def recommend_page(session: Session, form: dict[str, str], keys_required: bool) -> RecommendPage:
    """The advisor's answer for the profile in the form (calibrated by evidence, like the API),
    and what a tuning job can name (registered data sets, the trial runner's models)."""
    from advisor.search_space import DEFAULT_TUNED, TUNABLE
    from worker import registry
    from worker.evidence import recent_records

    page = RecommendPage(form={k: form.get(k, "") for k in PROFILE_FIELDS},
                         recommendation=None, errors=[], request=None,
                         keys_required=keys_required, datasets=registry.list_datasets(session),
                         trainer_models=registry.trainer_model_names(), tunable=list(TUNABLE),
                         default_tuned=list(DEFAULT_TUNED))
    if not any(form.get(k) for k in ("model", "params_millions")):
        return page
    body = profile_request(form)
    try:
        # The form's fields are text: validated laxly, unlike a JSON body ("256" is a number).
        request = RecommendationRequest.model_validate(body, strict=False)
        page.recommendation = recommend(request, evidence=recent_records(session))
        page.request = request.model_dump(mode="json")
    except ValidationError as error:
        page.errors = _messages(error)
    except AdvisorInputError as error:
        hint = f" (did you mean {', '.join(error.suggestions)}?)" if error.suggestions else ""
        page.errors = [f"{error.field}: {error.message}{hint}"]
    return page


# --- evidence ----------------------------------------------------------------------------------

@dataclass
class EvidenceRow:
    id: int
    job_id: int
    created_at: Any
    model_family: str | None
    optimizer: str
    advisor_rank: int | None
    n_complete: int
    percentile: float | None
    advised_value: float | None
    best_value: float | None
    factors: dict[str, float]
    differences: dict[str, float]
    categorical: dict[str, Any]


@dataclass
class EvidencePage:
    rows: list[EvidenceRow]
    page: int
    pages: int
    total: int


def evidence_page(session: Session, page: int) -> EvidencePage:
    """Evidence records, newest first: how each finished study judged the advisor."""
    found = evidence_functions.list_evidence(session, None, EVIDENCE_PER_PAGE,
                                             page_offset(page, EVIDENCE_PER_PAGE))
    rows = []
    for view in found.items:
        record = view.record
        rows.append(EvidenceRow(
            id=view.id, job_id=view.job_id, created_at=view.created_at,
            model_family=view.model_family, optimizer=view.optimizer,
            advisor_rank=view.advisor_rank, n_complete=view.n_complete,
            percentile=record.advisor_percentile, advised_value=record.advised_value,
            best_value=record.best_value,
            factors={k: math.exp(v) for k, v in record.log_ratios.items()},
            differences=dict(record.differences), categorical=dict(record.categorical_wins)))
    return EvidencePage(rows, page, page_count(found.total, EVIDENCE_PER_PAGE), found.total)
