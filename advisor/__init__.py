"""hpadvisor's rules engine: a training profile in, explained hyperparameters out.

Pure Python: imports only pydantic and the standard library, so it can be embedded anywhere.
"""

from advisor.curves import diagnose
from advisor.engine import HYPERPARAMETER_KEYS, AdvisorInputError, recommend
from advisor.schemas import EvidenceRecord, Recommendation, RecommendationRequest

__all__ = [
    "HYPERPARAMETER_KEYS",
    "AdvisorInputError",
    "EvidenceRecord",
    "Recommendation",
    "RecommendationRequest",
    "diagnose",
    "recommend",
]
