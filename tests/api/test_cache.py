"""The service's recommendation cache answers exactly what the advisor says."""

from __future__ import annotations

import pytest

from advisor import AdvisorInputError, RecommendationRequest, recommend
from api.cache import _recommendation_json, recommendation_json
from api.schemas import RecommendationBody

PROFILE = {"model": {"name": "resnet50"}, "training": {"batch_size": 512}}


def test_cached_json_is_the_advisors_answer_for_the_same_profile() -> None:
    body = RecommendationBody.model_validate({**PROFILE, "use_evidence": False})
    expected = recommend(RecommendationRequest.model_validate(PROFILE)).model_dump_json()
    before = _recommendation_json.cache_info().hits
    assert recommendation_json(body) == recommendation_json(body) == expected.encode()
    assert _recommendation_json.cache_info().hits == before + 1
    other = RecommendationBody.model_validate({**PROFILE, "training": {"batch_size": 256}})
    assert recommendation_json(other) != expected.encode()


def test_errors_are_raised_every_time_not_cached() -> None:
    body = RecommendationBody.model_validate({"model": {"name": "resnet5O"}})
    for _ in range(2):
        with pytest.raises(AdvisorInputError):
            recommendation_json(body)
