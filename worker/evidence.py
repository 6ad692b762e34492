"""Evidence records as plain functions: list, read, delete, and the records a recommendation
should consider. Rows become the advisor's plain `EvidenceRecord`s here; the advisor never sees
the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advisor.schemas import EvidenceRecord
from worker.errors import JobError
from worker.pagination import paginate
from worker.schemas import Page
from worker.store.models import Evidence

#: How many of the newest records a recommendation considers (similarity filters them further).
RECENT_RECORDS = 1000


class EvidenceNotFound(JobError):
    def __init__(self, evidence_id: int) -> None:
        self.evidence_id = evidence_id
        super().__init__(f"no evidence record with id {evidence_id}")


class EvidenceView(BaseModel):
    """One stored record with its id and when the study that produced it ended."""

    id: int
    job_id: int
    created_at: datetime
    model_family: str | None
    optimizer: str
    advisor_rank: int | None
    n_complete: int
    record: EvidenceRecord


def _view(row: Evidence) -> EvidenceView:
    return EvidenceView(id=row.id, job_id=row.job_id, created_at=row.created_at,
                        model_family=row.model_family, optimizer=row.optimizer,
                        advisor_rank=row.advisor_rank, n_complete=row.n_complete,
                        record=row.to_record())


def list_evidence(session: Session, family: str | None = None, limit: int = 50,
                  offset: int = 0) -> Page[EvidenceView]:
    """Newest first, optionally of one model family (case-insensitive)."""
    where = [] if family is None else [func.lower(Evidence.model_family) == family.lower()]
    rows, total = paginate(session, select(Evidence).where(*where).order_by(Evidence.id.desc()),
                           limit, offset)
    return Page[EvidenceView].of([_view(row) for row in rows], total, limit, offset)


def get_evidence(session: Session, evidence_id: int) -> EvidenceView:
    row = session.get(Evidence, evidence_id)
    if row is None:
        raise EvidenceNotFound(evidence_id)
    return _view(row)


def delete_evidence(session: Session, evidence_id: int) -> None:
    row = session.get(Evidence, evidence_id)
    if row is None:
        raise EvidenceNotFound(evidence_id)
    session.delete(row)
    session.commit()


def evidence_for_job(session: Session, job_id: int) -> EvidenceRecord | None:
    row = session.scalar(select(Evidence).where(Evidence.job_id == job_id))
    return None if row is None else row.to_record()


def recent_records(session: Session) -> list[EvidenceRecord]:
    """The newest records, for the advisor to pick similar ones from."""
    rows = session.scalars(select(Evidence).order_by(Evidence.id.desc())
                           .limit(RECENT_RECORDS))
    return [row.to_record() for row in rows]


def evidence_version(session: Session) -> tuple[Any, ...]:
    """What changes whenever a record is added or deleted: the row count, the newest id and the
    newest timestamp (one aggregate; the service re-reads the records only when it moved)."""
    return tuple(session.execute(select(func.count(Evidence.id), func.max(Evidence.id),
                                        func.max(Evidence.created_at))).one())
