"""Evidence records: what each finished study said about the advisor's configuration.

The columns hold what the API filters on (model family, optimizer) and the whole record as the
advisor's plain `EvidenceRecord`; the advisor receives records, never rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from advisor.schemas import EvidenceRecord
from worker.store.models import Base, utcnow


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
