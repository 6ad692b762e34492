"""`hpadvisor serve --workers 2`: several API processes on one port, with Nagle off.

Injects: keep-alive requests one after another on one connection to a two-process server.
Must hold: every answer is right, and the median round trip stays far below the ~40 ms that
Nagle's algorithm plus the client's delayed ACK add to each response when uvicorn's shared
socket loses TCP_NODELAY (uvicorn issue 3149; `api.cli.serve.run_processes`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from servers import free_port

pytestmark = pytest.mark.slow


def test_two_processes_answer_keep_alive_requests_without_delayed_acks(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "HPADVISOR_WARM_TRAINER": "0"}
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", "2",
             "--no-access-log", "--database-url", f"sqlite:///{tmp_path / 'h.db'}"],
            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server not healthy after 60 s"
            time.sleep(0.2)
        times = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(40):
                started = time.perf_counter()
                response = http.get("/v1/rules")
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            assert http.get("/metrics").status_code == 200
        assert statistics.median(times) < 0.03, sorted(times)
    finally:
        server.terminate()
        server.wait(timeout=30)
