"""Our studies open unchanged in optuna-dashboard, pointed at the same database URL."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from worker.settings import Settings
from worker.store import upgrade

optuna_dashboard = pytest.importorskip("optuna_dashboard")


def wsgi_get(app: Any, path: str) -> tuple[str, bytes]:
    """One GET through a WSGI app (no server, no extra dependency)."""
    environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET",
                               "wsgi.input": io.BytesIO()}
    setup_testing_defaults(environ)
    found: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        found["status"] = status

    body = b"".join(app(environ, start_response))
    return found["status"], body


def test_optuna_dashboard_lists_our_study_with_its_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hpadvisor.db'}"
    upgrade(url)
    with TestClient(create_app(Settings(database_url=url, warm_trainer=False))) as client:
        job = client.post("/v1/jobs", json={
            "dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": 3,
            "training": {"batch_size": 128, "epochs": 2}}).json()
    study = optuna.load_study(study_name=job["study_name"], storage=url)
    study.enqueue_trial({d["key"]: d["default"] for d in job["search_space"]})
    trial = study.ask()
    study.tell(trial, 0.9)

    app = optuna_dashboard.wsgi(optuna.storages.RDBStorage(url))
    status, body = wsgi_get(app, "/api/studies")
    assert status.startswith("200"), body[:500]
    studies = json.loads(body)["study_summaries"]
    ours = [s for s in studies if s["study_name"] == job["study_name"]]
    assert ours, studies
    assert ours[0]["directions"] == ["maximize"]
    assert any(attr["key"] == "hpadvisor_job_id" for attr in ours[0]["user_attrs"])

    status, body = wsgi_get(app, f"/api/studies/{ours[0]['study_id']}")
    assert status.startswith("200"), body[:500]
    detail = json.loads(body)
    assert len(detail["trials"]) == 1 and detail["trials"][0]["values"] == [0.9]
