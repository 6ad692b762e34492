"""Trials resume from their checkpoint after kill -9, and a finished job hands back its best
model, with real processes (API, workers) and a real torchvision model.

A job of one trial trains on digits; the worker saves a checkpoint at every epoch end
(HPADVISOR_CHECKPOINT_S=0) in Optuna's artifact store. Killed mid-trial after a checkpoint, its
trial is failed by the heartbeat and re-queued by Optuna's retry callback; another worker
resumes it from the checkpoint and it ends with exactly the accuracy of the same job run
without interruption. The kept model downloads over HTTP and through `hpadvisor jobs ID
--save-model`, loads into torchvision's model without hpadvisor, and reproduces the job's
validation accuracy on the job's validation split.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from optuna.trial import TrialState

from processes import start_worker, study, wait_all, wait_for
from servers import LiveServer, fresh_database, run_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EPOCHS = 4
ENV = {"HPADVISOR_CHECKPOINT_S": "0", "HPADVISOR_HEARTBEAT_S": "1", "HPADVISOR_PROBE": "0"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, LiveServer, Path, dict[str, str]]]:
    env = {**ENV, "HPADVISOR_ARTIFACTS": str(tmp_path / "artifacts")}
    with fresh_database("sqlite", tmp_path) as url:
        wait_all([start_worker(url, tmp_path, "--once", **env)])  # offers digits
        with run_server(url, tmp_path, HPADVISOR_WARM_TRAINER="0", **env) as server:
            yield url, server, tmp_path, env


def submit(server: LiveServer, model: str) -> int:
    body = {"dataset": "digits", "model": {"name": model}, "n_trials": 1, "seed": 5,
            "pruner": "none", "use_evidence": False,
            "training": {"batch_size": 128, "epochs": EPOCHS}}
    with server.client() as client:
        response = client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])



def checkpointed(url: str, job_id: int) -> bool:
    trials = study(url, job_id).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return any((t.user_attrs.get("checkpoint") or {}).get("epoch", 0) >= 1 for t in trials)


def test_a_killed_trial_resumes_from_its_checkpoint_and_ends_as_if_never_stopped(stack):
    url, server, directory, env = stack
    interrupted = submit(server, "small_cnn")
    first = start_worker(url, directory, **env)
    wait_for(lambda: checkpointed(url, interrupted), "a checkpoint", timeout=200)
    first.kill()
    first.wait()
    wait_all([start_worker(url, directory, "--once", **env)])

    trials = study(url, interrupted).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    resumed = trials[1]
    assert resumed.system_attrs["failed_trial"] == trials[0].number
    assert sorted(resumed.intermediate_values) == list(range(1, EPOCHS + 1))  # one history
    assert len(resumed.user_attrs["curves"]["val_accuracy"]) == EPOCHS
    logs = "\n".join(p.read_text() for p in directory.glob("worker-*.log"))
    assert "resuming from the checkpoint at epoch" in logs

    whole = submit(server, "small_cnn")  # the same job, never interrupted
    wait_all([start_worker(url, directory, "--once", **env)])
    (uninterrupted,) = study(url, whole).trials
    assert resumed.value == uninterrupted.value
    assert resumed.intermediate_values == uninterrupted.intermediate_values

    # Disk stays bounded: every checkpoint is gone, the best model of each job is kept.
    kept = {job_id: job_model(server, job_id) for job_id in (interrupted, whole)}
    files = {p.name for p in (directory / "artifacts").iterdir()}
    assert files == {ids[k] for ids in kept.values() for k in ("weights", "meta")}


def job_model(server: LiveServer, job_id: int) -> dict:
    with server.client() as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job
    return job["result"]["model"]


def test_the_best_model_downloads_and_reproduces_its_validation_accuracy(stack):
    url, server, directory, env = stack
    with server.client() as client:
        body = {"dataset": "digits", "model": {"name": "resnet18"}, "n_trials": 2, "seed": 1,
                "pruner": "none", "training": {"batch_size": 128, "epochs": 1}}
        job_id = client.post("/v1/jobs", json=body).json()["id"]
        refused = client.get(f"/v1/jobs/{job_id}/model")
        assert refused.status_code == 409
        assert "its model is kept when it ends" in refused.json()["detail"][0]["msg"]
    no_model_yet = subprocess.run(
        [sys.executable, "-m", "api.cli", "jobs", str(job_id), "--save-model",
         str(directory / "early"), "--url", server.url], capture_output=True, text=True,
        timeout=60)
    assert no_model_yet.returncode == 2 and "Traceback" not in no_model_yet.stderr
    assert no_model_yet.stderr.count("\n") == 1 and "when it ends" in no_model_yet.stderr
    assert not list((directory / "early").glob("*"))

    wait_all([start_worker(url, directory, "--once", **env)])
    with server.client() as client:
        job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded"
    best = job["best"]
    saved = subprocess.run(
        [sys.executable, "-m", "api.cli", "jobs", str(job_id), "--save-model",
         str(directory / "models"), "--url", server.url], capture_output=True, text=True,
        timeout=60)
    assert saved.returncode == 0, saved.stderr
    meta = json.loads((directory / "models" / f"job-{job_id}.json").read_text())
    assert (meta["job_id"], meta["trial"], meta["library"], meta["name"]) == (
        job_id, best["number"], "torchvision", "resnet18")
    assert meta["config"]["learning_rate"] == pytest.approx(
        study(url, job_id).trials[best["number"]].user_attrs["config"]["learning_rate"])

    # Loaded as any torchvision user would, without hpadvisor: a plain state_dict.
    from safetensors.torch import load_file

    model = torchvision.models.get_model(meta["name"], num_classes=meta["num_classes"])
    model.load_state_dict(load_file(directory / "models" / f"job-{job_id}.safetensors"))
    model.eval()
    from worker.trainer import load_dataset

    data = load_dataset("digits")  # the job's validation split
    images = data.x_val.float()
    if images.max() > 1:
        images = images / 255
    images = images.repeat(1, 3 // images.shape[1], 1, 1) if images.shape[1] == 1 else images
    mean = torch.tensor(meta["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(meta["std"]).view(1, -1, 1, 1)
    with torch.inference_mode():
        predicted = model((images - mean) / std).argmax(1)
    accuracy = (predicted == data.y_val).float().mean().item()
    assert accuracy == pytest.approx(best["value"], abs=1e-6)
