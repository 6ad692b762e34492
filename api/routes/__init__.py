"""One router per resource; `ROUTERS` is what `create_app` mounts."""

from fastapi import APIRouter

from api.routes import (
    catalog,
    diagnoses,
    evidence,
    health,
    jobs,
    metrics,
    recommendations,
    registry,
)

ROUTERS: list[APIRouter] = [
    recommendations.router,
    diagnoses.router,
    catalog.router,
    jobs.router,
    evidence.router,
    registry.router,
    health.router,
    metrics.router,
]
