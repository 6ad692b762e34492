"""API keys never reach the server's log: not on success, not on refusal, not in errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from servers import fresh_database, run_server

pytestmark = pytest.mark.slow

KEY = "secret-key-123"
WRONG = "wrong-key-456"


def test_api_keys_never_appear_in_the_server_log(tmp_path: Path) -> None:
    profile = {"model": {"name": "resnet50"}}
    with fresh_database("sqlite", tmp_path) as url, \
            run_server(url, tmp_path, HPADVISOR_API_KEYS=KEY,
                       HPADVISOR_WARM_TRAINER="0") as server:
        with server.client(key=KEY) as http:
            assert http.post("/v1/recommendations", json=profile).status_code == 200
            assert http.post("/v1/jobs", json={"dataset": "nope"}).status_code == 422
            assert http.post("/v1/jobs/999/cancel").status_code == 404
            assert http.get("/v1/jobs").status_code == 200
        with server.client(key=WRONG) as http:
            assert http.post("/v1/recommendations", json=profile).status_code == 401
            assert http.delete("/v1/evidence/1").status_code == 401
        with server.client(key=None) as http:
            assert http.post("/v1/diagnoses", json={}).status_code == 401
            basic = http.post("/v1/recommendations", json=profile,
                              headers={"Authorization": f"Basic {KEY}"})
            assert basic.status_code == 401
            assert KEY not in basic.text
        logs = list(tmp_path.glob("server-*.log"))
    assert logs
    text = "\n".join(log.read_text() for log in logs)
    assert "POST /v1/recommendations" in text  # the access log was written and read
    assert KEY not in text and WRONG not in text
