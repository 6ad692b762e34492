"""Schemathesis with all its checks over our own OpenAPI document, against a real server.

The test runs the command a user would, from the repository root, so that it reads
``schemathesis.toml`` (and the check in ``tests/api/schemathesis_hooks.py`` it loads)::

    schemathesis run URL/openapi.json -H "Authorization: Bearer KEY" --checks all

Every phase runs: the document's examples, the coverage phase (boundary values, every
undeclared method, which must get 405 with an ``Allow`` listing the path's methods), fuzzing
with valid and invalid bodies, and stateful sequences along the links it infers. What must hold:
no 5xx; every status, content type, body and header as the document declares; every
schema-violating request refused (strict types: ``"use_evidence": 0`` is not a boolean); every
schema-valid one accepted, except the 422s the document declares for rules no schema can state,
which must name their field. A failure prints each request as a curl command.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from advisor.schemas import EvidenceProfile, EvidenceRecord
from api.app import create_app
from servers import API_KEY, LiveServer, fresh_database, run_server
from worker.settings import Settings
from worker.store import make_engine, make_sessionmaker
from worker.store.models import Evidence

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
#: Examples per operation and phase (16 operations): about 25 s on two busy cores; the fixed
#: seed makes a failure reproducible (`schemathesis run ... --seed`), like `derandomize`.
MAX_EXAMPLES = 50
SEED = 1


def _store_evidence(database_url: str, job: dict[str, Any]) -> None:
    """An evidence record for `job`, as a worker stores one when a job ends."""
    record = EvidenceRecord(
        job_id=job["id"], profile=EvidenceProfile(
            model_family="resnet", params_millions=0.27, num_train_images=1437, num_classes=10,
            image_size=8, batch_size=256, epochs=15, optimizer="sgd"),
        advised={"learning_rate": 0.1}, best={"learning_rate": 0.2}, n_complete=5,
        advisor_rank=2, log_ratios={"learning_rate": math.log(2)})
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            session.add(Evidence.from_record(record))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server on a fresh SQLite file holding one job and one evidence record, so that reads
    (and the delete) by id can find something."""
    directory: Path = tmp_path_factory.mktemp("schemathesis")
    with fresh_database("sqlite", directory) as url, \
            run_server(url, directory, HPADVISOR_WARM_TRAINER="0") as server:
        with server.client() as http:
            created = http.post("/v1/jobs", json={"dataset": "digits",
                                                  "model": {"name": "small_cnn"}, "n_trials": 2})
        assert created.status_code == 201, created.text
        _store_evidence(url, created.json())
        with server.client() as http:
            assert http.get("/v1/evidence").json()["total"] == 1
        yield server


def test_the_server_serves_the_document_the_app_builds(hostile_server: LiveServer) -> None:
    with hostile_server.client() as http:
        assert http.get("/openapi.json").json() == create_app(
            Settings(warm_trainer=False)).openapi()


def test_schemathesis_with_all_checks_finds_nothing(hostile_server: LiveServer) -> None:
    command = [str(SCHEMATHESIS), "run", f"{hostile_server.url}/openapi.json",
               "-H", f"Authorization: Bearer {API_KEY}", "--checks", "all",
               "-n", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-database", "none",
               "--no-color"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    report = result.stdout + result.stderr
    assert "Configuration:    " + str(ROOT / "schemathesis.toml") in report, report[-5000:]
    assert result.returncode == 0, report[-20000:]
