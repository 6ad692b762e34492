"""Evidence end to end: finished jobs leave records; recommendations for the same profile cite
them (unless asked not to); records can be listed, filtered and deleted with the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from processes import start_worker, submit, wait_all
from servers import fresh_database, run_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_jobs(tmp_path_factory):
    """Two tiny digits jobs (5 trials each: fewer would not count as evidence) run by a real
    worker, on SQLite, behind a real server."""
    tmp_path = tmp_path_factory.mktemp("evidence")
    with fresh_database("sqlite", tmp_path) as url, run_server(url, tmp_path) as server:
        jobs = [submit(server, n_trials=5, seed=seed, pruner="none",
                       training={"batch_size": 128, "epochs": 1})
                for seed in (0, 1)]
        # (no learning-rate probe: the evidence is what is tested, the probe has its own tests)
        wait_all([start_worker(url, tmp_path, "--once", HPADVISOR_PROBE="0")])
        yield server, jobs


def profile_of(server, job) -> dict:
    """The advisor's profile for a job: the model's size and the data set's own profile."""
    with server.client() as client:
        data = next(d for d in client.get("/v1/datasets").json() if d["name"] == "digits")
    rec = job["recommendation"]
    return {"model": {"name": job["model"], "params_millions": rec["params_millions"],
                      "family": rec["model_family"]},
            "dataset": {"num_train_images": data["num_train"], "num_classes": data["num_classes"],
                        "image_size": data["image_size"],
                        "horizontal_flip_ok": data["horizontal_flip_ok"]},
            "training": {"batch_size": 128, "epochs": 1}}


def test_recommendation_for_the_same_profile_cites_finished_jobs(finished_jobs):
    server, jobs = finished_jobs
    with server.client() as client:
        evidence = client.get("/v1/evidence").json()
        assert evidence["total"] == 2
        assert {item["job_id"] for item in evidence["items"]} == {j["id"] for j in jobs}
        body = profile_of(server, jobs[0])
        cited = client.post("/v1/recommendations", json=body).json()
        plain = client.post("/v1/recommendations", json={**body, "use_evidence": False}).json()
        detail = client.get(f"/v1/jobs/{jobs[0]['id']}").json()
    lr = next(e for e in cited["explanations"] if e["key"] == "learning_rate")
    assert "calibration.numeric" in lr["rules"]
    assert f"jobs {jobs[0]['id']}, {jobs[1]['id']}" in lr["reason"] or \
        f"jobs {jobs[1]['id']}, {jobs[0]['id']}" in lr["reason"]
    plain_lr = next(e for e in plain["explanations"] if e["key"] == "learning_rate")
    assert "calibration.numeric" not in plain_lr["rules"]
    assert detail["evidence"]["job_id"] == jobs[0]["id"]
    flags = ["--model", body["model"]["name"], "--params-m", str(body["model"]["params_millions"]),
             "--num-images", str(body["dataset"]["num_train_images"]), "--num-classes",
             str(body["dataset"]["num_classes"]), "--image-size",
             str(body["dataset"]["image_size"]), "--no-flip", "--batch-size", "128",
             "--epochs", "1", "--url", server.url, "--api-key", server.api_key]
    if body["model"]["family"]:
        flags += ["--family", body["model"]["family"]]
    cli = subprocess.run([sys.executable, "-m", "api.cli", "recommend", *flags],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "calibration.numeric" in cli.stdout and "similar finished stud" in cli.stdout
    off = subprocess.run([sys.executable, "-m", "api.cli", "recommend", *flags,
                          "--no-evidence"], capture_output=True, text=True, timeout=60)
    assert off.returncode == 0 and "calibration.numeric" not in off.stdout


def test_evidence_filter_cli_and_authenticated_delete(finished_jobs):
    server, _jobs = finished_jobs
    with server.client() as client:
        assert client.get("/v1/evidence", params={"family": "no-such-family"}).json()[
            "total"] == 0
        record_id = client.get("/v1/evidence").json()["items"][0]["id"]
    with server.client(key=None) as anonymous:
        assert anonymous.delete(f"/v1/evidence/{record_id}").status_code == 401
    with server.client() as client:
        assert client.delete(f"/v1/evidence/{record_id}").status_code == 204
        assert client.delete(f"/v1/evidence/{record_id}").status_code == 404
        assert client.get("/v1/evidence").json()["total"] == 1
    run = subprocess.run([sys.executable, "-m", "api.cli", "evidence", "--url", server.url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "1 record(s)" in run.stdout
