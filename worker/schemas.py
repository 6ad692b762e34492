"""Pydantic models of tuning jobs: the request (`JobRequest`) and the views the API returns.

The profile parts are the advisor's own models (`ModelSpec`, `TrainingSpec`, `Recommendation`,
`SearchDimension`), imported, not copied.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from advisor.schemas import (
    EvidenceRecord,
    JsonInt,
    ModelSpec,
    Recommendation,
    SearchDimension,
    TrainingSpec,
    whole_number,
)
from advisor.search_space import TUNABLE
from worker.pagination import next_offset
from worker.states import JobState

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_TRIALS = 10_000
MAX_TIMEOUT_S = 30 * 24 * 3600.0
#: The smallest resolution a job's trials may train at.
MIN_TRIAL_IMAGE_SIZE = 8

Sampler = Literal["tpe", "random", "gp", "cmaes", "qmc", "prior"]
Pruner = Literal["median", "hyperband", "successive_halving", "none"]
BUILTIN_OBJECTIVE = "image-classification"
#: A key `JobRequest.tune` may name: `_known_keys` checks it (its message lists the allowed
#: keys) and the schema states the same set, with at least one key.
TuneKey = Annotated[str, WithJsonSchema({"type": "string", "enum": list(TUNABLE)})]


class JobTraining(TrainingSpec):
    """How the job's trials train: the advisor's training fields, and for a data set too large
    to train every trial on, the share of its training images and the resolution the trials
    use (the advisor is asked with those; the job's result rescales the best configuration
    for the whole data set)."""

    data_fraction: float = Field(
        default=1.0, gt=0.0, le=1.0, description="The share of the training images each trial "
        "trains on (a fixed stratified subset); validation always uses the whole split.")
    image_size: JsonInt | None = Field(
        default=None, ge=MIN_TRIAL_IMAGE_SIZE, description="The resolution the trials train "
        "at, at most the data set's (default: the data set's own).")

    def for_advisor(self) -> TrainingSpec:
        """The fields the advisor reads (its own `TrainingSpec`)."""
        return TrainingSpec.model_validate(
            {key: getattr(self, key) for key in TrainingSpec.model_fields}, strict=False)

    @property
    def reduced(self) -> bool:
        """Whether the trials train on less than the whole data set at its resolution."""
        return self.data_fraction < 1.0 or self.image_size is not None


class JobRequest(BaseModel):
    """A tuning job: what to train on which registered data set, and how to search."""

    #: Strict types, like the advisor's request models (`advisor.schemas._Input`).
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [{
        "objective": BUILTIN_OBJECTIVE, "dataset": "digits", "model": {"name": "resnet20"},
        "training": {"batch_size": 128, "epochs": 15, "goal": "accuracy"},
        "n_trials": 20, "timeout_s": None, "sampler": "tpe", "pruner": "median", "seed": 0,
        "tune": ["learning_rate", "weight_decay", "label_smoothing"]}]})

    objective: str = Field(default=BUILTIN_OBJECTIVE, pattern=NAME_PATTERN,
                           description="A registered objective (GET /v1/objectives).")
    dataset: str = Field(pattern=NAME_PATTERN, description="A registered data set "
                         "(GET /v1/datasets); it carries its own profile.")
    model: ModelSpec
    training: JobTraining = Field(default_factory=JobTraining)
    n_trials: JsonInt = Field(default=20, ge=1, le=MAX_TRIALS)
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    sampler: Sampler = "tpe"
    pruner: Pruner = "median"
    seed: Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(whole_number)] | None = None
    use_evidence: bool = Field(default=True, description="Start from the advice calibrated by "
                               "similar finished studies (false: the rules alone).")
    tune: Annotated[list[TuneKey], Field(json_schema_extra={"minItems": 1})] | None = Field(
        default=None, max_length=len(TUNABLE), description=(
            "Hyperparameters to search, a subset of: " + ", ".join(TUNABLE)
            + "; default: the advisor's (learning_rate, weight_decay, label_smoothing)."))

    @field_validator("training", mode="before")
    @classmethod
    def _advisors_training_spec(cls, value: Any) -> Any:
        """The advisor's own `TrainingSpec` is taken as the job's training with its defaults."""
        if isinstance(value, TrainingSpec) and not isinstance(value, JobTraining):
            return JobTraining.model_validate(value.model_dump())
        return value

    @field_validator("tune")
    @classmethod
    def _known_keys(cls, tune: list[str] | None) -> list[str] | None:
        if tune is None:
            return None
        unknown = [key for key in tune if key not in TUNABLE]
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: {', '.join(TUNABLE)}")
        if not tune:
            raise ValueError(f"name at least one of: {', '.join(TUNABLE)}")
        return list(dict.fromkeys(tune))


class JobSummary(BaseModel):
    """A job as listed: identity, set-up, state and the worker's last progress report."""

    id: int
    state: JobState
    created_at: datetime
    updated_at: datetime
    objective: str
    dataset: str
    model: str
    n_trials: int
    sampler: Sampler
    pruner: Pruner
    study_name: str | None
    progress: dict[str, Any] | None = Field(
        default=None, description="Written by the worker: trial n/N, epoch, current value, "
        "best so far.")
    error: str | None = None
    waiting: str | None = Field(
        default=None, description="For a queued or running job no live worker can run: what "
        "it waits for, e.g. \"waiting for a worker that offers data set 'stripes'\".")


class TrialCounts(BaseModel):
    complete: int = 0
    pruned: int = 0
    fail: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.fail


class BestTrial(BaseModel):
    number: int
    value: float
    params: dict[str, Any]


class AdvisorComparison(BaseModel):
    """The advisor's configuration for the tuned keys and, once it ran, how it ranks."""

    params: dict[str, Any]
    trial_number: int | None = None
    value: float | None = None
    rank: int | None = Field(default=None, description="1 = best of the completed trials.")
    of: int | None = Field(default=None, description="Completed trials ranked.")


class JobDetail(JobSummary):
    """One job in full: the request, the advisor's answer and what Optuna has so far."""

    timeout_s: float | None
    seed: int | None
    tune: list[str]
    request: dict[str, Any]
    recommendation: Recommendation
    search_space: list[SearchDimension]
    trials: TrialCounts
    trials_done: int
    best: BestTrial | None
    advisor: AdvisorComparison
    started_at: datetime | None = None
    finished_at: datetime | None = None
    worker: str | None = None
    heartbeat_at: datetime | None = None
    evidence: EvidenceRecord | None = Field(
        default=None, description="What this finished study told the advisor (see GET "
        "/v1/evidence); later recommendations for similar profiles use it.")
    full_run: Recommendation | None = Field(
        default=None, description="When the trials train on a fraction of the data or at a "
        "lower resolution (training.data_fraction, training.image_size): the advice for the "
        "whole data set at its resolution; the result's full_run carries the best trial's "
        "values over to it.")
    result: dict[str, Any] | None = Field(
        default=None, description="Written when the job ends: counts, the best trial with its "
        "configuration and diagnosis, the advisor's trial and rank, parameter importances, and "
        "for a reduced job what the full run should use (full_run).")


class TrialView(BaseModel):
    """One Optuna trial: parameters, state, final value and per-epoch values."""

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    intermediate_values: dict[int, float]
    user_attrs: dict[str, Any]
    datetime_start: datetime | None
    datetime_complete: datetime | None


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: `items`, how many there are in all, and where the next page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], total: int, limit: int, offset: int) -> Page[T]:
        """The page of `items` at `offset` out of `total` (``Page[JobSummary].of(...)``)."""
        return cls(items=items, total=total, limit=limit, offset=offset,
                   next_offset=next_offset(offset, limit, total))
