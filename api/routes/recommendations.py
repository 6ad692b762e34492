"""`POST /v1/recommendations`: the advisor's explained hyperparameters for a profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from advisor import Recommendation, recommend
from api.deps import RequireKey
from api.schemas import RecommendationBody

router = APIRouter(prefix="/v1", tags=["advisor"])


@router.post("/recommendations", response_model=Recommendation, dependencies=[RequireKey],
             responses={422: {"description": "Unknown model (lists close names) or bad field"}})
async def create_recommendation(body: RecommendationBody) -> Response:
    """Explained, sourced hyperparameters and the region worth tuning around them."""
    recommendation = recommend(body)
    return Response(recommendation.model_dump_json(), media_type="application/json")
