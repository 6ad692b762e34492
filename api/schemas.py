"""Models only the HTTP API needs; the advisor's and the job store's models are imported."""

from __future__ import annotations

from pydantic import BaseModel, Field

from advisor import RecommendationRequest
from advisor.schemas import Source


class RecommendationBody(RecommendationRequest):
    """A training profile, as `advisor.recommend` takes it, plus API options."""

    use_evidence: bool = Field(
        default=True, description="Calibrate with evidence from similar finished studies "
        "(the explanations name them); false gives the rule-based answer alone.")


class RuleView(BaseModel):
    """One entry of the rule registry: what it sets, when it runs, why, and its sources."""

    id: str
    kind: str = Field(description="rule (sets values), advice (a trick) or diagnosis.")
    sets: list[str]
    stage: int | None
    summary: str
    sources: list[Source]
    references: list[str]


class Health(BaseModel):
    status: str
    database: str
