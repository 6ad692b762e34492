"""Dependencies shared by the routes: a database session per request, Optuna's storage, auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from optuna.storages import BaseStorage
from sqlalchemy.orm import Session

from api.security import require_api_key


def get_session(request: Request) -> Iterator[Session]:
    """One session per request (one unit of work); closed when the response is sent."""
    with request.app.state.sessions() as session:
        yield session


def get_storage(request: Request) -> BaseStorage:
    storage: BaseStorage = request.app.state.storage
    return storage


SessionDep = Annotated[Session, Depends(get_session)]
StorageDep = Annotated[BaseStorage, Depends(get_storage)]
#: Put on every mutating route: `dependencies=[RequireKey]`.
RequireKey = Depends(require_api_key)
