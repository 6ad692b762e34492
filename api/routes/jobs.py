"""Tuning jobs: create, list, read, trials, cancel. Each route calls one `worker.jobs` function."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.deps import RequireKey, SessionDep, StorageDep
from api.responses import CONFLICT, MUTATING, NOT_FOUND, UNAVAILABLE, invalid
from worker import jobs
from worker.schemas import JobDetail, JobRequest, JobState, JobSummary, Page, TrialView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=UNAVAILABLE)

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The job's id.")]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.post("", response_model=JobDetail, status_code=status.HTTP_201_CREATED,
             dependencies=[RequireKey], responses={**MUTATING, **invalid(
                 "`objective` or `dataset` is not one a worker offers (GET /v1/objectives, GET "
                 "/v1/datasets), `model.name` is not a model the objective can build (the "
                 "answer lists those it can), or `training.pretrained` asks for weights no "
                 "worker has for the model")})
def create_job(body: JobRequest, session: SessionDep, storage: StorageDep) -> JobDetail:
    """Ask the advisor, store the job (queued) and create its Optuna study."""
    return jobs.create_job(session, storage, body)


@router.get("", response_model=Page[JobSummary])
def list_jobs(session: SessionDep, state: JobState | None = None, limit: Limit = 50,
              offset: Offset = 0) -> Page[JobSummary]:
    """Newest first, optionally only those in one state."""
    return jobs.list_jobs(session, state, limit, offset)


@router.get("/{job_id}", response_model=JobDetail, responses=NOT_FOUND)
def get_job(job_id: JobId, session: SessionDep, storage: StorageDep) -> JobDetail:
    """State, trials done of n, best value and parameters, and how the advisor's config ranks."""
    return jobs.get_job(session, storage, job_id)


@router.get("/{job_id}/trials", response_model=Page[TrialView], responses=NOT_FOUND)
def list_trials(job_id: JobId, session: SessionDep, storage: StorageDep, limit: Limit = 50,
                offset: Offset = 0) -> Page[TrialView]:
    """Each trial's parameters, state, value and per-epoch validation values."""
    return jobs.list_trials(session, storage, job_id, limit, offset)


@router.post("/{job_id}/cancel", response_model=JobDetail, dependencies=[RequireKey],
             responses={**MUTATING, **NOT_FOUND, **CONFLICT})
def cancel_job(job_id: JobId, session: SessionDep, storage: StorageDep) -> JobDetail:
    """Cancel a queued or running job; workers stop it between trials."""
    return jobs.cancel_job(session, storage, job_id)
