"""`GET /metrics`: Prometheus text format, computed from the database at scrape time."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api import metrics
from api.responses import UNAVAILABLE

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "Prometheus text exposition format"}, **UNAVAILABLE})
def get_metrics(request: Request) -> Response:
    """Jobs by state, trials by state and a histogram of trial durations (all workers' trials,
    read from the database), plus this process's CPU and memory."""
    return Response(metrics.render(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
