"""`POST /v1/recommendations`: the advisor's explained hyperparameters for a profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from advisor import Recommendation
from api.cache import recommendation_json
from api.deps import RequireKey, SessionDep
from api.schemas import RecommendationBody
from worker.evidence import recent_records

router = APIRouter(prefix="/v1", tags=["advisor"])


@router.post("/recommendations", response_model=Recommendation, dependencies=[RequireKey],
             responses={422: {"description": "Unknown model (lists close names) or bad field"}})
def create_recommendation(body: RecommendationBody, session: SessionDep) -> Response:
    """Explained, sourced hyperparameters and the region worth tuning around them, calibrated
    by similar finished studies unless `use_evidence` is false."""
    evidence = recent_records(session) if body.use_evidence else []
    return Response(recommendation_json(body, evidence), media_type="application/json")
