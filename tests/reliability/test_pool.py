"""`hpadvisor worker --slots 2`: one command, two trial slots, with real processes.

Two trials of one job run at once; a slot killed with kill -9 is logged and started again and
the job still ends with exactly its trials complete (the dead slot's trial re-run); one SIGTERM
stops every slot and the pool, cleanly. `--gpus` is refused in one line where no GPU is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from optuna.trial import TrialState

from processes import PLUGINS, start_worker, study, submit, wait_all, wait_for
from servers import LiveServer, fresh_database, run_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ENV = {"HPADVISOR_HEARTBEAT_S": "1", "HPADVISOR_TEST_EPOCH_S": "0.4"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, LiveServer, Path]]:
    with fresh_database("sqlite", tmp_path) as url:
        wait_all([start_worker(url, tmp_path, "--once")])  # offers the test objective
        with run_server(url, tmp_path, HPADVISOR_WARM_TRAINER="0") as server:
            yield url, server, tmp_path


def start_pool(url: str, directory: Path, *extra: str) -> tuple[subprocess.Popen[bytes], Path]:
    environ = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join(
        [str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
    log = directory / f"pool-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker", "--database-url", url, "--slots", "2",
             "--poll", "0.2", *extra], cwd=directory, env=environ, stdout=out,
            stderr=subprocess.STDOUT)
    return process, log



def running(url: str, job_id: int) -> list:
    return study(url, job_id).get_trials(deepcopy=False, states=(TrialState.RUNNING,))


def test_two_slots_run_two_trials_at_once_survive_kill_9_and_stop_on_sigterm(stack):
    url, server, directory = stack
    job = submit(server, objective="quick", n_trials=8, pruner="none",
                 training={"batch_size": 128, "epochs": 4})
    pool, log = start_pool(url, directory)
    try:
        wait_for(lambda: len(running(url, job["id"])) == 2, "two trials running at once")
        both = running(url, job["id"])
        assert {t.user_attrs.get("slot") for t in both} == {"slot0", "slot1"}
        victim = int(both[0].user_attrs["worker"].rsplit(":", 1)[1])
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: "died with exit status -9" in log.read_text(), "the death logged")
        wait_for(lambda: log.read_text().count("started on the CPU") >= 3, "the slot restarted")

        def finished() -> bool:
            with server.client() as client:
                return client.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"

        wait_for(finished, "the job", timeout=180)
        trials = study(url, job["id"]).trials
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == 8, states
        assert states.count(TrialState.FAIL) == 1, states  # the killed one, re-run
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(timeout=60) == 0
    finally:
        if pool.poll() is None:
            pool.kill()
    text = log.read_text()
    assert "all 2 slots stopped" in text and "Traceback" not in text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU refusal")
def test_gpus_without_a_gpu_is_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "api.cli", "worker", "--gpus", "all",
                           "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == ("hpadvisor: error: --gpus: all: no CUDA GPU is visible here "
                                   "(use --slots N on the CPU)")
