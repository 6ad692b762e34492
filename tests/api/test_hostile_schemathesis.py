"""Schemathesis over our own OpenAPI document, against a real server on SQLite.

Every operation in ``/openapi.json`` gets generated requests, valid and invalid (schemathesis'
positive and negative modes), with a fixed example budget so the run stays bounded. What must
hold for every one: no 5xx, the status code is one the document declares for the operation, and
the body matches the declared schema and content type. A failure prints the request as a curl
command to reproduce it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import Settings
from servers import API_KEY, LiveServer, fresh_database, run_server

pytestmark = pytest.mark.slow

#: Examples per operation (15 operations): about 20 s on two busy cores.
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server on a fresh SQLite file holding one job, so reads by id can find something."""
    directory: Path = tmp_path_factory.mktemp("schemathesis")
    with fresh_database("sqlite", directory) as url, \
            run_server(url, directory, HPADVISOR_WARM_TRAINER="0") as server:
        with server.client() as http:
            created = http.post("/v1/jobs", json={"dataset": "digits",
                                                  "model": {"name": "small_cnn"}, "n_trials": 2})
        assert created.status_code == 201, created.text
        yield server


#: The document as the app builds it (no server needed to collect the tests); the test below
#: checks that the running server serves the same one. Loaded eagerly because schemathesis'
#: fixture-based loader (`from_fixture`) relies on a pytest internal that pytest 9 removed.
SPEC = create_app(Settings(warm_trainer=False)).openapi()
schema = schemathesis.openapi.from_dict(SPEC)


def test_the_server_serves_the_document_under_test(hostile_server: LiveServer) -> None:
    with hostile_server.client() as http:
        assert http.get("/openapi.json").json() == SPEC


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_response_matches_the_spec(
        case: schemathesis.Case, hostile_server: LiveServer) -> None:
    case.call_and_validate(base_url=hostile_server.url, checks=CHECKS,
                           headers={"Authorization": f"Bearer {API_KEY}"})
