"""`POST /v1/recommendations`: the advisor's explained hyperparameters for a profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from advisor import Recommendation
from api.cache import recommendation_json
from api.deps import RequireKey
from api.schemas import RecommendationBody

router = APIRouter(prefix="/v1", tags=["advisor"])


@router.post("/recommendations", response_model=Recommendation, dependencies=[RequireKey],
             responses={422: {"description": "Unknown model (lists close names) or bad field"}})
async def create_recommendation(body: RecommendationBody) -> Response:
    """Explained, sourced hyperparameters and the region worth tuning around them."""
    return Response(recommendation_json(body, body.use_evidence), media_type="application/json")
