"""Helpers that start real worker processes and submit jobs, shared by the integration tests.

Importable from any test module (pytest puts tests/ on sys.path for tests/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna

from servers import free_port

PLUGINS = Path(__file__).parent / "worker" / "plugins"


def start_worker(url: str, directory: Path, *extra: str, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(PLUGINS), os.environ.get("PYTHONPATH", "")]), **env}
    log = (directory / f"worker-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "api.cli", "worker", "--database-url", url,
                             "--threads", "1", "--poll", "0.2", *extra], cwd=directory,
                            env=environ, stdout=log, stderr=subprocess.STDOUT)


def start_proxy(url: str, directory: Path, port: int) -> subprocess.Popen[bytes]:
    """`hpadvisor storage-proxy` on `url` and `port`, logging to proxy-*.log in `directory`."""
    log = (directory / f"proxy-{time.monotonic_ns()}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "api.cli", "storage-proxy",
                             "--database-url", url, "--port", str(port)], cwd=directory,
                            stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def storage_proxy(url: str, directory: Path) -> Iterator[str]:
    """`hpadvisor storage-proxy` on `url` and a free port; yields its grpc:// address and stops
    it at the end. Workers wait for it to answer (HPADVISOR_PROXY_WAIT_S)."""
    port = free_port()
    process = start_proxy(url, directory, port)
    try:
        yield f"grpc://127.0.0.1:{port}"
        assert process.poll() is None, "the storage proxy exited"
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Poll `condition` every 0.1 s; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_all(workers: list[subprocess.Popen[bytes]], timeout: float = 240) -> None:
    for worker in workers:
        assert worker.wait(timeout=timeout) == 0


def study(url: str, job_id: int) -> optuna.Study:
    return optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=url)


def submit(server, **body) -> dict:
    model = ({"name": "small_cnn"} if body.get("objective", "image-classification") ==
             "image-classification" else {"name": "toy", "params_millions": 0.1})
    payload = {"dataset": "digits", "model": model,
               "training": {"batch_size": 128, "epochs": 3}, "n_trials": 4, "seed": 0, **body}
    with server.client() as client:
        response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


