"""Evidence from finished studies: list, read, delete (deleting needs the API key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import RequireKey, SessionDep
from api.responses import MUTATING, NOT_FOUND, UNAVAILABLE
from worker import evidence
from worker.evidence import EvidenceView
from worker.schemas import Page

router = APIRouter(prefix="/v1/evidence", tags=["evidence"], responses=UNAVAILABLE)

EvidenceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The record's id.")]


@router.get("", response_model=Page[EvidenceView])
def list_evidence(session: SessionDep,
                  family: Annotated[str | None, Query(max_length=100)] = None,
                  limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0) -> Page[EvidenceView]:
    """What finished studies said about the advice, newest first; `family` filters."""
    return evidence.list_evidence(session, family, limit, offset)


@router.get("/{evidence_id}", response_model=EvidenceView, responses=NOT_FOUND)
def get_evidence(evidence_id: EvidenceId, session: SessionDep) -> EvidenceView:
    return evidence.get_evidence(session, evidence_id)


@router.delete("/{evidence_id}", status_code=status.HTTP_204_NO_CONTENT,
               dependencies=[RequireKey], responses={**MUTATING, **NOT_FOUND})
def delete_evidence(evidence_id: EvidenceId, session: SessionDep) -> Response:
    """Forget one record: later recommendations no longer use it."""
    evidence.delete_evidence(session, evidence_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
