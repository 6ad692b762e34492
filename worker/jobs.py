"""Tuning jobs as plain functions: create, list, read, list trials, cancel.

The HTTP routes call these and nothing else. Creating a job completes the advisor's profile from
the registered data set and the trial runner's model, asks the advisor, stores the job (queued)
and creates its Optuna study in the same database. Reading a job counts its trials and finds the
best one through Optuna's storage API (see `worker.studies` for the read cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from advisor import AdvisorInputError, Recommendation, RecommendationRequest, catalog, recommend
from advisor.schemas import DatasetSpec, EvidenceRecord, ModelSpec, SearchDimension
from advisor.search_space import DEFAULT_TUNED
from worker import registry, trials
from worker.errors import FieldError, JobConflict, JobNotFound
from worker.evidence import evidence_for_job, recent_records
from worker.offers import Offer, live_offers, waiting_for
from worker.pagination import paginate
from worker.schemas import (
    BUILTIN_OBJECTIVE,
    AdvisorComparison,
    BestTrial,
    JobDetail,
    JobRequest,
    JobState,
    JobSummary,
    Page,
    TrialCounts,
    TrialView,
)
from worker.states import ACTIVE_STATES
from worker.store.models import Job, utcnow
from worker.studies import create_job_study, study_name_for

#: A trial user attribute the worker sets on the trial that runs the advisor's configuration.
ADVISOR_TRIAL_ATTR = trials.ADVISOR_ATTR
ADVISOR_TRIAL_ROLE = trials.ADVISOR_ROLE
CANCELLABLE = ACTIVE_STATES


# --- create ------------------------------------------------------------------------------------

def _check_objective(session: Session, name: str) -> None:
    known = registry.names(registry.list_objectives(session))
    if name not in known:
        raise FieldError(("body", "objective"), f"no worker offers the objective {name!r}; "
                         f"registered: {', '.join(known)}", known)


def _dataset(session: Session, name: str) -> registry.DatasetInfo:
    info = registry.find_dataset(session, name)
    if info is None:
        known = registry.names(registry.list_datasets(session))
        raise FieldError(("body", "dataset"), f"no worker offers the data set {name!r}; "
                         f"registered: {', '.join(known)}", known)
    return info


def _trial_data(request: JobRequest, data: registry.DatasetInfo) -> registry.DatasetInfo:
    """The data set as the job's trials see it: `training.data_fraction` of its training images
    (the trainer's stratified subset keeps about that many, at least one per class) at
    `training.image_size`."""
    training = request.training
    if not training.reduced:
        return data
    size = training.image_size or data.image_size
    if size > data.image_size:
        raise FieldError(("body", "training", "image_size"), f"the trials can train at most at "
                         f"the data set's resolution, {data.image_size} px; got {size}")
    kept = max(data.num_classes, round(data.num_train * training.data_fraction))
    return data.model_copy(update={"num_train": min(kept, data.num_train), "image_size": size})


def _trainer_model(request: JobRequest,
                   data: registry.DatasetInfo) -> registry.TrainerModel | None:
    """For the built-in objective, the model the trial runner builds for this data set."""
    if request.objective != BUILTIN_OBJECTIVE:
        return None
    name = request.model.name
    if not name:
        allowed = registry.trainer_model_names()
        raise FieldError(("body", "model", "name"), "the built-in objective trains a model it "
                         "builds: name a torchvision or timm classifier (resnet50, convnext_tiny, "
                         f"vit_small_patch16_224, ...) or a small net ({', '.join(allowed)})",
                         allowed)
    try:
        return registry.trainer_model(name, data.num_classes, data.channels, data.image_size)
    except registry.UnknownTrainerModel as error:
        raise FieldError(("body", "model", "name"), str(error), error.suggestions) from None


def _model(request: JobRequest, data: registry.DatasetInfo) -> ModelSpec:
    """The model as the advisor should see it: for the built-in objective, the built model's
    real size and family (and a name the catalog knows, when it knows the model)."""
    built = _trainer_model(request, data)
    if built is None:
        return request.model
    name = request.model.name or built.library_name
    if catalog.find_model(name) is None:
        name = built.library_name
    return ModelSpec(name=name, params_millions=built.params_millions,
                     family=request.model.family or built.family)


def _check_pretrained(session: Session, request: JobRequest,
                      built: registry.TrainerModel | None) -> None:
    """A fine-tuning job needs a worker that holds the model's weights locally."""
    if built is None or not request.training.pretrained:
        return
    if not registry.weights_hosts(session, built.key):
        raise FieldError(("body", "training", "pretrained"), "no worker has local pretrained "
                         f"weights for {request.model.name!r} ({built.key}); weights are looked "
                         f"for in: {registry.where_weights_are_looked_for()}")


def _check_applicable(recommendation: Recommendation) -> None:
    """Every advised value must be one the trial runner applies: refuse the job otherwise."""
    try:
        registry.check_trial_config(recommendation.hyperparameters)
    except ValueError as error:
        key = str(error).split(":", 1)[0].split(".")[0]
        raise FieldError(("hyperparameters", key), "the advice sets a value the trial runner "
                         f"cannot apply, so the job is refused: {error}") from None


def advise(request: JobRequest, data: registry.DatasetInfo,
           evidence: Sequence[EvidenceRecord] = ()) -> Recommendation:
    """The advisor's recommendation for the job, its profile completed from the data set and
    calibrated by `evidence` (records of finished studies; the advisor picks similar ones)."""
    profile = RecommendationRequest(
        model=_model(request, data),
        dataset=DatasetSpec(num_train_images=data.num_train, num_classes=data.num_classes,
                            image_size=data.image_size,
                            horizontal_flip_ok=data.horizontal_flip_ok),
        training=request.training.for_advisor())
    try:
        return recommend(profile, evidence)
    except AdvisorInputError as error:
        raise FieldError(("body", *error.field.split(".")), error.message,
                         error.suggestions) from None


def create_job(session: Session, storage: BaseStorage, request: JobRequest) -> JobDetail:
    """Validate against what workers offer, ask the advisor, store the job, create its study.

    The job row is committed before the study is created (on SQLite an open write transaction
    would block Optuna's connection); if the study cannot be created the row is deleted again.
    """
    _check_objective(session, request.objective)
    whole = _dataset(session, request.dataset)
    data = _trial_data(request, whole)
    built = _trainer_model(request, data)
    _check_pretrained(session, request, built)
    evidence = recent_records(session) if request.use_evidence else []
    recommendation = advise(request, data, evidence)  # with the trials' real numbers
    full_run = advise(request, whole, evidence) if data is not whole else None
    if built is not None:
        _check_applicable(recommendation)
        if built.input_note:
            recommendation.warnings.append(f"{built.key}: {built.input_note}")
    tune = request.tune or list(DEFAULT_TUNED)
    space = [dim for dim in recommendation.search_space if dim.key in tune]
    job = Job(state="queued", objective=request.objective, dataset=request.dataset,
              model_name=built.key if built else recommendation.model,
              n_trials=request.n_trials,
              timeout_s=request.timeout_s, sampler=request.sampler, pruner=request.pruner,
              seed=request.seed, tune=tune, request=request.model_dump(mode="json"),
              recommendation=recommendation.model_dump(mode="json"),
              search_space=[dim.model_dump(mode="json") for dim in space],
              full_run=full_run.model_dump(mode="json") if full_run is not None else None)
    session.add(job)
    session.flush()
    job.study_name = study_name_for(job.id)
    session.commit()
    try:
        create_job_study(storage, job.id)
    except Exception:
        session.delete(job)
        session.commit()
        raise
    return _detail(session, job)


# --- read --------------------------------------------------------------------------------------

def _summary_fields(job: Job, offers: list[Offer]) -> dict[str, Any]:
    waiting = waiting_for(job, offers) if job.state in ACTIVE_STATES else None
    return {"id": job.id, "state": job.state, "created_at": job.created_at,
            "updated_at": job.updated_at, "objective": job.objective, "dataset": job.dataset,
            "model": job.model_name, "n_trials": job.n_trials, "sampler": job.sampler,
            "pruner": job.pruner, "study_name": job.study_name, "progress": job.progress,
            "error": job.error, "waiting": waiting}


def list_jobs(session: Session, state: JobState | None = None, limit: int = 50,
              offset: int = 0) -> Page[JobSummary]:
    """Newest first; `total` counts every job in the filter."""
    where = [] if state is None else [Job.state == state]
    rows, total = paginate(session, select(Job).where(*where).order_by(Job.id.desc()),
                           limit, offset)
    offers = live_offers(session)
    return Page[JobSummary].of([JobSummary(**_summary_fields(job, offers)) for job in rows],
                               total, limit, offset)


def _job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def get_job(session: Session, storage: BaseStorage, job_id: int) -> JobDetail:
    detail = _detail(session, _job(session, job_id))
    detail.evidence = evidence_for_job(session, job_id)
    return detail


def _advisor(session: Session, sid: int | None,
             space: list[SearchDimension]) -> AdvisorComparison:
    comparison = AdvisorComparison(params={dim.key: dim.default for dim in space})
    mine = trials.advisor_trial(session, sid)
    if mine is not None:
        comparison.trial_number = mine.trial.number
        comparison.value = mine.trial.value if mine.rank is not None else None
        comparison.rank = mine.rank
        comparison.of = mine.of if mine.rank is not None else None
    return comparison


def _detail(session: Session, job: Job) -> JobDetail:
    """The job with its trial counts, best trial and advisor rank: a few bounded queries on
    Optuna's tables (see `worker.trials`), however many trials the study has."""
    sid = trials.study_id(session, job.study_name)
    counts = TrialCounts(**{k: v for k, v in trials.trial_counts(session, sid).items()
                            if k in TrialCounts.model_fields})
    best_row = trials.best_trial(session, sid)
    best = None if best_row is None or best_row.value is None else BestTrial(
        number=best_row.number, value=best_row.value, params=best_row.params)
    space = [SearchDimension.model_validate(dim) for dim in job.search_space]
    return JobDetail(
        **_summary_fields(job, live_offers(session)), timeout_s=job.timeout_s, seed=job.seed,
        tune=job.tune, request=job.request,
        recommendation=Recommendation.model_validate(job.recommendation), search_space=space,
        trials=counts, trials_done=counts.done, best=best,
        advisor=_advisor(session, sid, space), started_at=job.started_at,
        finished_at=job.finished_at, worker=job.worker, heartbeat_at=job.heartbeat_at,
        result=job.result, full_run=None if job.full_run is None else
        Recommendation.model_validate(job.full_run))


def _trial_view(trial: FrozenTrial) -> TrialView:
    return TrialView(number=trial.number, state=trial.state.name.lower(), value=trial.value,
                     params=trial.params, intermediate_values=trial.intermediate_values,
                     user_attrs=trial.user_attrs, datetime_start=trial.datetime_start,
                     datetime_complete=trial.datetime_complete)


def list_trials(session: Session, storage: BaseStorage, job_id: int, limit: int = 50,
                offset: int = 0) -> Page[TrialView]:
    """A page of the job's trials in trial-number order: the page's ids from one bounded query,
    then just those trials through Optuna's own loader."""
    sid = trials.study_id(session, _job(session, job_id).study_name)
    page = trials.trials_page(session, sid, "number", "asc", limit, offset)
    items = [_trial_view(t) for t in trials.load(storage, sid, [r.trial_id for r in page.rows])]
    return Page[TrialView].of(items, page.total, limit, offset)


# --- the best model ----------------------------------------------------------------------------

#: The files of a job's kept model: the weights (safetensors) and their description (JSON).
MODEL_FILES = ("weights", "meta")


def model_file(session: Session, job_id: int, which: str) -> str:
    """The artifact id of the job's kept model file `which` (weights or meta); JobConflict
    saying why when there is none (not finished yet, or no trial kept one)."""
    job = _job(session, job_id)
    model = (job.result or {}).get("model")
    if isinstance(model, dict) and isinstance(model.get(which), str):
        return str(model[which])
    if job.state in ACTIVE_STATES:
        why = f"job {job_id} is {job.state}: its model is kept when it ends"
    elif job.state == "succeeded":
        why = (f"job {job_id} kept no model (its best trial saved none: a custom objective, "
               "or a job that ended before models were kept)")
    else:
        why = f"job {job_id} {job.state} without a model"
    raise JobConflict(job_id, job.state, why)


# --- cancel ------------------------------------------------------------------------------------

def cancel_job(session: Session, storage: BaseStorage, job_id: int) -> JobDetail:
    """Mark a queued or running job cancelled (workers stop between trials); 409 otherwise."""
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.state.in_(CANCELLABLE))
        .values(state="cancelled", updated_at=utcnow(), finished_at=utcnow())
        .execution_options(synchronize_session=False))
    session.commit()
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise JobConflict(job_id, job.state, f"job {job_id} is already {job.state}; only "
                          f"{' or '.join(CANCELLABLE)} jobs can be cancelled")
    return _detail(session, job)


# --- rows, for the dashboard's views ---------------------------------------------------------

def load_job(session: Session, job_id: int) -> Job:
    """The job's row (the dashboard lays out its columns); JobNotFound when there is none."""
    return _job(session, job_id)


def results_of(session: Session, job_ids: list[int]) -> dict[int, dict[str, Any] | None]:
    """The worker's result of each job (None until it ended), in one ``IN`` query."""
    return {job_id: result for job_id, result in session.execute(
        select(Job.id, Job.result).where(Job.id.in_(job_ids)))}
