"""The FastAPI application: `create_app(settings)` wires routers, auth, limits and storage.

Run it with `hpadvisor serve`, or ``uvicorn api.app:app_from_env --factory``.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from api import handlers, logs, metrics
from api.routes import ROUTERS, dashboard
from api.security import BodySizeLimit
from worker import registry
from worker.settings import Settings
from worker.store import make_engine, make_sessionmaker
from worker.store.optuna_rdb import cached, make_storage

DESCRIPTION = """Explained, sourced hyperparameters for image classifiers, and Optuna tuning
jobs that test them. Mutating endpoints need `Authorization: Bearer <key>` when the server has
API keys (`HPADVISOR_API_KEYS`)."""


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        app.state.sessions = make_sessionmaker(engine)
        app.state.metrics = metrics.make_registry(app.state.sessions)
        rdb = make_storage(settings.database_url)
        app.state.storage = cached(rdb)
        if settings.warm_trainer:
            threading.Thread(target=registry.warm_up, name="warm-trainer", daemon=True).start()
        try:
            yield
        finally:
            rdb.engine.dispose()
            engine.dispose()

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(title="hpadvisor", version="0.1.0", description=DESCRIPTION,
                  lifespan=_lifespan(settings))
    app.state.settings = settings
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(dashboard.router)
    handlers.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn: ``uvicorn api.app:app_from_env --factory`` (also what each process
    of ``hpadvisor serve --workers N`` runs; ``HPADVISOR_LOG_JSON=1`` gives JSON logs)."""
    settings = Settings.from_env()
    if settings.log_json:
        logs.setup(json_lines=True)
    return create_app(settings)
