"""`GET /v1/objectives` and `GET /v1/datasets`: what the workers can run."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SessionDep
from api.responses import UNAVAILABLE
from worker import registry
from worker.registry import DatasetInfo, ObjectiveInfo

router = APIRouter(prefix="/v1", tags=["registry"], responses=UNAVAILABLE)


@router.get("/objectives", response_model=list[ObjectiveInfo])
def get_objectives(session: SessionDep) -> list[ObjectiveInfo]:
    """The built-in objective and those workers have registered."""
    return registry.list_objectives(session)


@router.get("/datasets", response_model=list[DatasetInfo])
def get_datasets(session: SessionDep) -> list[DatasetInfo]:
    """Built-in and worker-registered data sets with their profiles (no data loaded)."""
    return registry.list_datasets(session)
