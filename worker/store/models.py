"""Typed SQLAlchemy models: tuning jobs, the names workers offer and the evidence of finished
studies.

`jobs` holds what the service decided (the request, the advisor's recommendation and search
space, the Optuna study's name) and what a worker reports (state, progress, error, heartbeat).
`registered_names` holds the objectives and data sets each worker host can run (with data-set
profiles, for the API's lists); `worker_offers` holds what each running worker process offers,
kept alive by its heartbeat, which is what routes jobs to workers. `evidence` holds
what each finished study said about the advisor's configuration: the columns the API filters on
(model family, optimizer) and the whole record as the advisor's plain `EvidenceRecord`; the
advisor receives records, never rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from advisor.schemas import EvidenceRecord
from worker.states import JOB_STATES, JobState

NAME_KINDS = ("objective", "dataset")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on every backend (SQLite hands back naive values: UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Job(Base):
    """One tuning job: the request, the advisor's answer and the worker's progress."""

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        Index(None, "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    state: Mapped[JobState] = mapped_column(String(16), default="queued")
    objective: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(64))
    model_name: Mapped[str] = mapped_column(String(200))
    n_trials: Mapped[int]
    timeout_s: Mapped[float | None] = mapped_column(Float)
    sampler: Mapped[str] = mapped_column(String(16))
    pruner: Mapped[str] = mapped_column(String(24))
    seed: Mapped[int | None]
    tune: Mapped[list[Any]]
    request: Mapped[dict[str, Any]]
    recommendation: Mapped[dict[str, Any]]
    search_space: Mapped[list[Any]]
    study_name: Mapped[str | None] = mapped_column(String(128), unique=True)
    progress: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Worker coordination (see worker.loop): the advisor trial was enqueued; trials taken from
    # the budget; trials re-queued after their worker died (each allows one more claim).
    seeded: Mapped[bool] = mapped_column(default=False, server_default=false())
    trials_claimed: Mapped[int] = mapped_column(default=0, server_default="0")
    retries: Mapped[int] = mapped_column(default=0, server_default="0")
    result: Mapped[dict[str, Any] | None]
    #: The advisor's recommendation for the whole data set, when the trials train on less.
    full_run: Mapped[dict[str, Any] | None]

    @property
    def pretrained(self) -> bool:
        """Whether the job fine-tunes from local pretrained weights (`training.pretrained`)."""
        return bool(self._training.get("pretrained", False))

    @property
    def data_fraction(self) -> float:
        """The share of the training images each trial trains on (`training.data_fraction`)."""
        return float(self._training.get("data_fraction", 1.0))

    @property
    def trial_image_size(self) -> int | None:
        """The resolution the trials train at (`training.image_size`; None: the data set's)."""
        size = self._training.get("image_size")
        return None if size is None else int(size)

    @property
    def _training(self) -> dict[str, Any]:
        return self.request.get("training") or {}


class WorkerOffer(Base):
    """What one running worker process offers, alive while `expires_at` is in the future (its
    heartbeat moves it on; a stopped worker deletes its row, a killed one lets it expire)."""

    __tablename__ = "worker_offers"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # host:pid
    host: Mapped[str] = mapped_column(String(255))
    device: Mapped[str] = mapped_column(String(16))
    objectives: Mapped[list[Any]]
    datasets: Mapped[list[Any]]
    weights: Mapped[list[Any]]  # model keys (torchvision:resnet18, ...) it holds weights for
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RegisteredName(Base):
    """An objective or data set a worker host offers (data sets carry their profile)."""

    __tablename__ = "registered_names"
    __table_args__ = (
        CheckConstraint(_in("kind", NAME_KINDS), name="kind"),
        UniqueConstraint("kind", "name", "host"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    profile: Mapped[dict[str, Any] | None]
    seen_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    model_family: Mapped[str | None] = mapped_column(String(100), index=True)
    optimizer: Mapped[str] = mapped_column(String(16))
    advisor_rank: Mapped[int | None]
    n_complete: Mapped[int]
    record: Mapped[dict[str, Any]]

    @classmethod
    def from_record(cls, record: EvidenceRecord) -> Evidence:
        return cls(job_id=int(record.job_id), model_family=record.profile.model_family,
                   optimizer=record.profile.optimizer, advisor_rank=record.advisor_rank,
                   n_complete=record.n_complete, record=record.model_dump(mode="json"))

    def to_record(self) -> EvidenceRecord:
        return EvidenceRecord.model_validate(self.record)
