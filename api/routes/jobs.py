"""Tuning jobs: create, list, read, trials, cancel. Each route calls one `worker.jobs` function."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import StreamingResponse
from optuna.artifacts.exceptions import ArtifactNotFound

from api.deps import ArtifactsDep, RequireKey, SessionDep, StorageDep
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
                 "answer lists those it can), `training.pretrained` asks for weights no "
                 "worker has for the model, or `training.image_size` is above the data set's "
                 "resolution")})
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


MODEL_FILE = {200: {"content": {"application/octet-stream": {}},
                    "description": "The safetensors state_dict of the job's best trial"}}
MODEL_META = {200: {"content": {"application/json": {}},
                    "description": "What the weights are: model and library, classes, input "
                    "size, normalisation, the trial's configuration, the job id"}}


def _stream(store: ArtifactsDep, artifact_id: str, media_type: str,
            filename: str) -> StreamingResponse:
    try:
        reader = store.open_reader(artifact_id)
    except ArtifactNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the file {filename} is no longer in "
                            "the artifact store (HPADVISOR_ARTIFACTS)") from None
    except Exception as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the artifact store is "
                            f"unavailable: {str(error).splitlines()[0]}") from None

    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(1 << 20):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/{job_id}/model", response_class=StreamingResponse,
            responses={**MODEL_FILE, **NOT_FOUND, **CONFLICT})
def get_model(job_id: JobId, session: SessionDep, store: ArtifactsDep) -> StreamingResponse:
    """The best trial's trained weights: a safetensors state_dict (409 until the job ends)."""
    artifact_id = jobs.model_file(session, job_id, "weights")
    return _stream(store, artifact_id, "application/octet-stream",
                   f"job-{job_id}-model.safetensors")


@router.get("/{job_id}/model.json", response_class=StreamingResponse,
            responses={**MODEL_META, **NOT_FOUND, **CONFLICT})
def get_model_meta(job_id: JobId, session: SessionDep, store: ArtifactsDep) -> StreamingResponse:
    """What the weights are and how to load and feed them."""
    artifact_id = jobs.model_file(session, job_id, "meta")
    return _stream(store, artifact_id, "application/json", f"job-{job_id}-model.json")


@router.post("/{job_id}/cancel", response_model=JobDetail, dependencies=[RequireKey],
             responses={**MUTATING, **NOT_FOUND, **CONFLICT})
def cancel_job(job_id: JobId, session: SessionDep, storage: StorageDep) -> JobDetail:
    """Cancel a queued or running job; workers stop it between trials."""
    return jobs.cancel_job(session, storage, job_id)
