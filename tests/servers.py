"""Helpers behind the shared fixtures: fresh databases and a real server in a subprocess.

Imported by `tests/conftest.py` and by test modules (`from servers import LiveServer`); kept
out of conftest.py because every conftest is importable as plain `conftest`.

* `database_url` - parametrised over ``sqlite`` (a file in the test's tmp dir) and
  ``postgresql`` (the database in ``HPADVISOR_TEST_POSTGRES_URL``; skipped, with the reason, when
  it is unset). Each PostgreSQL test gets its own schema, created empty and dropped afterwards,
  so tests never see each other's tables (ours or Optuna's).
* `live_server` - ``hpadvisor serve`` in a subprocess on a free port (one per backend per
  session), with ``HPADVISOR_API_KEYS=k1``; waits for /healthz and stops the server at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ENV = "HPADVISOR_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
API_KEY = "k1"


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A URL to an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'hpadvisor.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base and os.environ.get("HPADVISOR_REQUIRE_POSTGRES"):
        pytest.fail(f"{POSTGRES_ENV} is not set, and HPADVISOR_REQUIRE_POSTGRES says the "
                    "PostgreSQL tests must run (CI): scripts/test-services.sh did not start it")
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://"
                    "hpadvisor:hpadvisor@127.0.0.1:5432/hpadvisor_test); `make test` sets it")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    database_url: str
    api_key: str

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}):\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not healthy after 30 s:\n{log.read_text()}")


@contextmanager
def run_server(database_url: str, directory: Path, **env: str) -> Iterator[LiveServer]:
    """`hpadvisor serve` (migrations, then uvicorn) in a subprocess on a free port."""
    port = free_port()
    log = directory / f"server-{port}.log"
    environ = {**os.environ, "HPADVISOR_API_KEYS": API_KEY, **env}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port),
             "--database-url", database_url], cwd=directory, env=environ, stdout=out,
            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield LiveServer(url, database_url, environ["HPADVISOR_API_KEYS"].split(",")[0])
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
