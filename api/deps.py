"""Dependencies shared by the routes: a database session per request, Optuna's storage, the
evidence cache, auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from optuna.storages import BaseStorage
from sqlalchemy.orm import Session

from api.cache import EvidenceCache
from api.security import require_api_key
from worker.checkpoints import ArtifactStore


def get_session(request: Request) -> Iterator[Session]:
    """One session per request (one unit of work); closed when the response is sent."""
    with request.app.state.sessions() as session:
        yield session


def get_evidence(request: Request) -> EvidenceCache:
    """The app's evidence cache (made on first use, over the app's sessions)."""
    state = request.app.state
    if getattr(state, "evidence", None) is None:
        state.evidence = EvidenceCache(state.sessions)
    cache: EvidenceCache = state.evidence
    return cache


def get_storage(request: Request) -> BaseStorage:
    storage: BaseStorage = request.app.state.storage
    return storage


def get_artifacts(request: Request) -> ArtifactStore:
    """Optuna's artifact store where workers keep each job's best model (opened on first use;
    `HPADVISOR_ARTIFACTS`)."""
    state = request.app.state
    if getattr(state, "artifacts", None) is None:
        from worker.checkpoints import open_artifact_store

        state.artifacts = open_artifact_store(state.settings.artifacts)
    store: ArtifactStore = state.artifacts
    return store


SessionDep = Annotated[Session, Depends(get_session)]
StorageDep = Annotated[BaseStorage, Depends(get_storage)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
EvidenceDep = Annotated[EvidenceCache, Depends(get_evidence)]
#: Put on every mutating route: `dependencies=[RequireKey]`.
RequireKey = Depends(require_api_key)
