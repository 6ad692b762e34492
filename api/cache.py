"""A small cache of recommendations, answered as ready-made JSON.

`advisor.recommend` is a pure function of the profile (about 0.5-1 ms of rule evaluation and
explanation building), so the service keeps the JSON of the last `MAX_PROFILES` distinct
profiles. The key is the request's canonical JSON; errors are never cached. Requests that ask
with evidence records bypass the cache, because evidence changes as studies finish.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from advisor import EvidenceRecord, RecommendationRequest, recommend

MAX_PROFILES = 1024
PROFILE_FIELDS = {"model", "dataset", "training"}


@functools.lru_cache(maxsize=MAX_PROFILES)
def _recommendation_json(profile_json: str) -> bytes:
    request = RecommendationRequest.model_validate_json(profile_json)
    return recommend(request).model_dump_json().encode()


def recommendation_json(request: RecommendationRequest,
                        evidence: Sequence[EvidenceRecord] = ()) -> bytes:
    """The recommendation for `request` as JSON bytes (cached unless evidence is given)."""
    profile_json = request.model_dump_json(include=PROFILE_FIELDS)
    if evidence:
        profile = RecommendationRequest.model_validate_json(profile_json)
        return recommend(profile, evidence).model_dump_json().encode()
    return _recommendation_json(profile_json)
