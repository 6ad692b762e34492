"""`POST /v1/recommendations`: the advisor's explained hyperparameters for a profile."""

from __future__ import annotations

from fastapi import APIRouter, Response

from advisor import Recommendation
from api.cache import NO_EVIDENCE, recommendation_json
from api.deps import EvidenceDep, RequireKey
from api.responses import MUTATING, invalid
from api.schemas import RecommendationBody

router = APIRouter(prefix="/v1", tags=["advisor"])


@router.post("/recommendations", response_model=Recommendation, dependencies=[RequireKey],
             responses={**MUTATING, **invalid(
                 "`model.name` is not a model the advisor knows and `model.params_millions` is "
                 "not given (GET /v1/models lists the names; case and separators are ignored)")})
async def create_recommendation(body: RecommendationBody, evidence: EvidenceDep) -> Response:
    """Explained, sourced hyperparameters and the region worth tuning around them, calibrated
    by similar finished studies unless `use_evidence` is false."""
    snapshot = evidence.snapshot() if body.use_evidence else NO_EVIDENCE
    return Response(recommendation_json(body, snapshot), media_type="application/json")
