"""Observability: `GET /metrics` (Prometheus text, computed from the database) and the JSON
logs of `hpadvisor serve --log-json` and `hpadvisor worker --log-json`.

One stack per backend: a server with ``HPADVISOR_LOG_JSON=1``, a finished job of three quick
trials run by a worker with ``--log-json``, and a second job left queued.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from processes import start_worker, submit, wait_for
from servers import BACKENDS, fresh_database, run_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=BACKENDS)
def finished(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    directory: Path = tmp_path_factory.mktemp(f"metrics-{request.param}")
    with fresh_database(request.param, directory) as url:
        # One worker offers the test objective (a job can name it then), runs the job and is
        # stopped before the second job, which stays queued.
        worker = start_worker(url, directory, "--log-json", HPADVISOR_TEST_EPOCH_S="0.3")
        with run_server(url, directory, HPADVISOR_LOG_JSON="1",
                        HPADVISOR_WARM_TRAINER="0") as server:
            with server.client() as client:
                wait_for(lambda: "quick" in {o["name"] for o in client.get(
                    "/v1/objectives").json()}, "the worker's offer")
                job = submit(server, objective="quick", n_trials=3, pruner="none",
                             training={"batch_size": 128, "epochs": 2})
                wait_for(lambda: client.get(f"/v1/jobs/{job['id']}").json()["state"]
                         == "succeeded", "the job")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
            submit(server, objective="quick", n_trials=2)  # stays queued
            with server.client(key=None) as http:
                response = http.get("/metrics")
                http.get("/v1/jobs/999")  # a 404 in the access log
            yield {"response": response, "job": job, "directory": directory}


def _families(text: str) -> dict[str, dict[tuple, float]]:
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            out.setdefault(sample.name, {})[labels] = sample.value
    return out


def test_metrics_count_jobs_and_trials_by_state(finished) -> None:
    response = finished["response"]
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _families(response.text)
    jobs = {dict(labels)["state"]: value for labels, value in samples["hpadvisor_jobs"].items()}
    assert jobs == {"queued": 1, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}
    trials = {dict(k)["state"]: v for k, v in samples["hpadvisor_trials"].items()}
    assert trials["complete"] == 3 and trials["running"] == 0 and trials["fail"] == 0


def test_trial_duration_histogram_holds_the_finished_trials(finished) -> None:
    samples = _families(finished["response"].text)
    count = samples["hpadvisor_trial_duration_seconds_count"][(("state", "complete"),)]
    total = samples["hpadvisor_trial_duration_seconds_sum"][(("state", "complete"),)]
    assert count == 3
    assert 3 * 2 * 0.3 <= total < 60  # two epochs of 0.3 s each, three trials
    buckets = sorted(((float(dict(k)["le"]), v) for k, v in
                      samples["hpadvisor_trial_duration_seconds_bucket"].items()
                      if dict(k)["state"] == "complete"))
    values = [v for _, v in buckets]
    assert values == sorted(values) and values[-1] == 3  # cumulative, +Inf holds all
    assert dict(buckets)[0.5] == 0  # each trial took at least 0.6 s
    assert "process_cpu_seconds_total" in samples


def _json_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines, path
    parsed = []
    for line in lines:
        entry = json.loads(line)  # every line is one JSON object
        assert {"time", "level", "logger", "message"} <= set(entry), line
        parsed.append(entry)
    return parsed


def test_worker_log_json_has_one_object_per_line_with_job_fields(finished) -> None:
    logs = [_json_lines(p) for p in finished["directory"].glob("worker-*.log")]
    entries = max(logs, key=len)  # the worker that ran the trials
    job_id = finished["job"]["id"]
    epochs = [e for e in entries if e.get("epoch") is not None]
    assert epochs and all(e["job_id"] == job_id and "trial" in e for e in epochs)
    done = [e for e in entries if e.get("state") == "complete"]
    assert len(done) == 3 and {e["trial"] for e in done} == {0, 1, 2}


def test_server_log_json_has_access_lines_with_fields(finished) -> None:
    (log,) = finished["directory"].glob("server-*.log")
    entries = _json_lines(log)
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert any(e["path"] == "/metrics" and e["status"] == 200 and e["method"] == "GET"
               for e in access)
    assert any(e["path"] == "/v1/jobs/999" and e["status"] == 404 for e in access)
