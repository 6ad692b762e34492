"""Jobs go only to the workers that can run them, with real processes on both databases.

Two workers as a team runs them: one started plain (what `make run` starts), one with a worker
config declaring an image folder `stripes`. A job on the folder must run every trial on the
folder's worker, the other never claiming it; with the folder's worker gone, a job on the folder
stays queued saying what it waits for, and runs once such a worker is back.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from optuna.trial import TrialState
from PIL import Image
from sqlalchemy import create_engine, func, select

from processes import start_worker, study, wait_for
from servers import BACKENDS, LiveServer, fresh_database, run_server
from worker.store.models import WorkerOffer, utcnow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FAST = {"HPADVISOR_HEARTBEAT_S": "1"}  # offers expire 3 s after a worker is killed


def make_stripes(root: Path) -> Path:
    """Two classes of 32 px PNGs: horizontal or vertical stripes, with noise."""
    rng = np.random.default_rng(0)
    for label, axis in (("horizontal", 0), ("vertical", 1)):
        (root / label).mkdir(parents=True)
        for index in range(12):
            stripes = (np.arange(32) // 4 % 2 * 200).astype(np.uint8)
            pixels = np.repeat(stripes[:, None] if axis == 0 else stripes[None, :], 32, 1 - axis)
            noisy = np.clip(pixels + rng.integers(0, 40, (32, 32)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).convert("RGB").save(root / label / f"{index}.png")
    return root


@dataclass
class Team:
    url: str
    server: LiveServer
    directory: Path
    config: Path

    def start_folder_worker(self) -> subprocess.Popen[bytes]:
        # a memory budget a third of the folder's 72 KiB of decoded images: its trials stream
        # the images from the cache on disk
        return start_worker(self.url, self.directory, "--config", str(self.config),
                            HPADVISOR_MEMORY_BUDGET="24K", **FAST)

    def live_offers(self) -> int:
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return int(connection.scalar(select(func.count()).select_from(WorkerOffer)
                                             .where(WorkerOffer.expires_at > utcnow())) or 0)
        finally:
            engine.dispose()

    def job(self, job_id: int) -> dict:
        with self.server.client() as client:
            return client.get(f"/v1/jobs/{job_id}").json()

    def submit_stripes(self, n_trials: int) -> dict:
        body = {"dataset": "stripes", "model": {"name": "small_cnn"},
                "training": {"batch_size": 8, "epochs": 1}, "n_trials": n_trials,
                "pruner": "none", "seed": 0}
        with self.server.client() as client:
            response = client.post("/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        return response.json()



def stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=60) == 0


@pytest.fixture(params=BACKENDS)
def team(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Team]:
    folder = make_stripes(tmp_path / "stripes")
    config = tmp_path / "worker.toml"
    config.write_text(f'[[datasets]]\nname = "stripes"\npath = "{folder}"\nformat = "folder"\n'
                      "horizontal_flip_ok = true\nimage_size = 32\n")
    with fresh_database(request.param, tmp_path) as url, \
            run_server(url, tmp_path, HPADVISOR_WARM_TRAINER="0") as server:
        yield Team(url, server, tmp_path, config)


def trial_workers(url: str, job_id: int) -> list[str]:
    return [t.user_attrs.get("worker", "?") for t in study(url, job_id).trials]


def test_a_folder_job_runs_only_on_the_worker_that_has_the_folder(team: Team) -> None:
    plain = start_worker(team.url, team.directory, **FAST)
    folder = team.start_folder_worker()
    try:
        wait_for(lambda: team.live_offers() == 2, "both workers' offers")
        job = team.submit_stripes(n_trials=4)
        wait_for(lambda: team.job(job["id"])["state"] in ("succeeded", "failed"), "the job")
        detail = team.job(job["id"])
        assert detail["state"] == "succeeded", detail
        trials = study(team.url, job["id"]).trials
        assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
        assert {name.rsplit(":", 1)[1] for name in trial_workers(team.url, job["id"])} == {
            str(folder.pid)}
        assert detail["waiting"] is None
    finally:
        stop(plain, folder)
    assert team.live_offers() == 0  # a stopped worker withdraws its offer
    plain_log = min(team.directory.glob("worker-*.log"), key=lambda p: p.stat().st_ctime)
    assert f"job {job['id']}" not in plain_log.read_text()
    folder_log = max(team.directory.glob("worker-*.log"), key=lambda p: p.stat().st_ctime)
    assert "exceed the memory budget" in folder_log.read_text()


def test_a_job_whose_workers_are_gone_waits_saying_for_what_then_runs(team: Team) -> None:
    folder = team.start_folder_worker()
    wait_for(lambda: team.live_offers() == 1, "the folder worker's offer")
    folder.kill()  # gone without withdrawing: its offer expires after the grace period
    folder.wait()
    started = [start_worker(team.url, team.directory, **FAST)]  # the plain worker
    try:
        wait_for(lambda: team.live_offers() == 1, "the dead worker's offer to expire")
        job = team.submit_stripes(n_trials=2)
        time.sleep(2)  # the plain worker polls meanwhile and must leave the job alone
        detail = team.job(job["id"])
        assert detail["state"] == "queued"
        assert detail["waiting"] == "waiting for a worker that offers data set 'stripes'"
        shown = subprocess.run(
            [sys.executable, "-m", "api.cli", "jobs", str(job["id"]), "--url", team.server.url],
            capture_output=True, text=True, timeout=60)
        assert "waiting for a worker that offers data set 'stripes'" in shown.stdout
        with team.server.client() as client:
            page = client.get(f"/jobs/{job['id']}/summary").json()
        assert page["waiting"] == detail["waiting"]
        back = team.start_folder_worker()
        started.append(back)
        wait_for(lambda: team.job(job["id"])["state"] == "succeeded", "the job once a worker "
                 "with the folder is back")
        assert team.job(job["id"])["waiting"] is None
        assert {name.rsplit(":", 1)[1] for name in trial_workers(team.url, job["id"])} == {
            str(back.pid)}
    finally:
        stop(*started)
