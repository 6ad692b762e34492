"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, and a real server.

* `database_url` - parametrised over ``sqlite`` (a file in the test's tmp dir) and
  ``postgresql`` (the database in ``HPADVISOR_TEST_POSTGRES_URL``; skipped, with the reason, when
  it is unset). Each PostgreSQL test gets its own schema, created empty and dropped afterwards,
  so tests never see each other's tables (ours or Optuna's).
* `live_server` - ``hpadvisor serve`` in a subprocess on a free port (one per backend per
  session), with ``HPADVISOR_API_KEYS=k1``; waits for /healthz and stops the server at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import BACKENDS, LiveServer, fresh_database, run_server


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp(f"server-{request.param}")
    with fresh_database(request.param, directory) as url, run_server(url, directory) as server:
        yield server
