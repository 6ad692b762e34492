"""The service's recommendation cache answers exactly what the advisor says, and its evidence
cache re-reads records only when the evidence table changed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from advisor import AdvisorInputError, RecommendationRequest, recommend
from advisor.schemas import EvidenceProfile, EvidenceRecord, ModelSpec
from api.cache import EvidenceCache, _recommendation_json, recommendation_json
from api.schemas import RecommendationBody
from worker.jobs import create_job
from worker.schemas import JobRequest
from worker.store import make_engine, make_sessionmaker, upgrade
from worker.store.models import Evidence
from worker.store.optuna_rdb import cached, make_storage

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


def _add_evidence(sessions: sessionmaker[Session], job_id: int) -> None:
    profile = EvidenceProfile(model_family="resnet", params_millions=0.27, num_train_images=1437,
                              num_classes=10, image_size=32, batch_size=128, epochs=15,
                              optimizer="sgd")
    record = EvidenceRecord(job_id=job_id, profile=profile, advised={"learning_rate": 0.1},
                            best={"learning_rate": 0.4}, advisor_rank=3, n_complete=10,
                            log_ratios={"learning_rate": 1.386})
    with sessions() as session, session.begin():
        session.add(Evidence.from_record(record))


def test_evidence_is_reread_only_when_the_table_changed(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    rdb = make_storage(database_url)
    with sessions() as session:
        job = create_job(session, cached(rdb), JobRequest(dataset="digits",
                                                          model=ModelSpec(name="resnet20")))
    fresh, lazy = EvidenceCache(sessions, ttl_s=0.0), EvidenceCache(sessions, ttl_s=3600.0)
    empty, before = fresh.snapshot(), lazy.snapshot()
    assert empty.records == () and fresh.snapshot() is empty  # unchanged table: same snapshot
    _add_evidence(sessions, job.id)
    changed = fresh.snapshot()
    assert [r.job_id for r in changed.records] == [job.id] and changed != empty
    assert lazy.snapshot() is before  # within its TTL the lazy cache does not look
    body = RecommendationBody.model_validate({"model": {"name": "resnet20", "params_millions":
                                                        0.27}, "training": {"batch_size": 128}})
    _recommendation_json.cache_clear()
    misses = _recommendation_json.cache_info().misses
    recommendation_json(body, empty)
    recommendation_json(body, changed)
    assert _recommendation_json.cache_info().misses == misses + 2
    rdb.engine.dispose()
    engine.dispose()
