"""Workers as real processes: jobs submitted over HTTP, run by `hpadvisor worker` subprocesses.

The built-in objective trains a real model on digits (tiny: small_cnn, 2 epochs); the others
use the registered test objective `quick` (tests/worker/plugins) so that the coordination tests
stay fast.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from optuna.trial import TrialState

from processes import start_worker, study, submit, wait_all
from servers import BACKENDS, fresh_database, run_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=BACKENDS)
def stack(request, tmp_path_factory):
    """A database and the API on it, with the test objective offered by a worker host; shared
    by the module's tests (each runs its own job to the end, so they never see each other's)."""
    directory = tmp_path_factory.mktemp(f"stack-{request.param}")
    with fresh_database(request.param, directory) as url:
        # A worker records what it offers (the test objective) before jobs can name it.
        offer = start_worker(url, directory, "--once")
        wait_all([offer])
        with run_server(url, directory) as server:
            yield server, url, directory


def only_on(stack_backend: str, request: pytest.FixtureRequest) -> None:
    """Some faults are worth injecting on one backend only, to keep the suite short."""
    if request.node.callspec.params["stack"] != stack_backend:
        pytest.skip(f"run on {stack_backend} only")


def test_digits_job_runs_to_success_with_advisor_first(stack, request):
    only_on("sqlite", request)  # PostgreSQL runs jobs in the tests below and tests/reliability
    server, url, directory = stack
    job = submit(server, n_trials=3, training={"batch_size": 128, "epochs": 2})
    wait_all([start_worker(url, directory, "--once")])
    with server.client() as client:
        detail = client.get(f"/v1/jobs/{job['id']}").json()
    assert detail["state"] == "succeeded", detail
    trials = study(url, job["id"]).trials
    assert len([t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]) == 3
    # The learning-rate probe may have moved the start: the job's region now holds it.
    advised = {d["key"]: d["default"] for d in detail["search_space"]}
    assert trials[0].params == pytest.approx(advised)
    assert "probe" in detail["result"]
    assert trials[0].user_attrs["hpadvisor_role"] == "advisor"
    assert set(trials[0].user_attrs["curves"]) >= {"train_accuracy", "val_accuracy"}
    result = detail["result"]
    assert result["advisor"]["trial_number"] == 0
    watched = subprocess.run(
        [sys.executable, "-m", "api.cli", "jobs", str(job["id"]), "--watch", "--url",
         server.url], capture_output=True, text=True, timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert "succeeded" in watched.stdout and "best trial" in watched.stdout
    assert "advisor's configuration (trial 0)" in watched.stdout
    assert "diagnosis of the best trial" in watched.stdout
    assert result["diagnosis"]["state"] in ("overfitting", "underfitting", "healthy",
                                            "diverging", "not_converged")


@pytest.mark.parametrize("sampler", ["tpe", "prior"])
def test_two_workers_share_one_job_and_run_exactly_n_trials(stack, request, sampler):
    if sampler == "prior":
        only_on("postgresql", request)  # the many-worker backend; the sampler's own tests
    server, url, directory = stack
    job = submit(server, objective="quick", n_trials=12, pruner="none", sampler=sampler,
                 training={"batch_size": 128, "epochs": 3})
    workers = [start_worker(url, directory, "--once", HPADVISOR_TEST_EPOCH_S="0.05")
               for _ in range(2)]
    wait_all(workers)
    trials = study(url, job["id"]).trials
    assert len(trials) == 12
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert sum(t.user_attrs.get("hpadvisor_role") == "advisor" for t in trials) == 1
    with server.client() as client:
        detail = client.get(f"/v1/jobs/{job['id']}").json()
    assert detail["state"] == "succeeded"
    if sampler == "prior":  # the job says whether the trials kept or dropped the prior
        assert detail["result"]["prior"]["reason"]
        assert detail["result"]["best"]["value"] > 0.9  # the optimum's rate (0.3) was found


def test_pruned_trials_appear_as_pruned(stack, request):
    only_on("sqlite", request)
    server, url, directory = stack
    job = submit(server, objective="quick", n_trials=10, sampler="random", pruner="median",
                 training={"batch_size": 128, "epochs": 6})
    wait_all([start_worker(url, directory, "--once")])
    with server.client() as client:
        page = client.get(f"/v1/jobs/{job['id']}/trials", params={"limit": 50}).json()
    states = [t["state"] for t in page["items"]]
    assert len(states) == 10 and "pruned" in states


def test_killed_worker_trial_is_failed_and_retried_by_another(stack, request):
    """Injects: SIGKILL to a worker mid-trial (no chance to clean up). Must hold: after the
    grace period another worker fails that trial, re-runs its parameters, and the job ends
    succeeded with exactly n_trials complete trials and the one failed trial."""
    only_on("postgresql", request)
    server, url, directory = stack
    job = submit(server, objective="quick", n_trials=3, pruner="none",
                 training={"batch_size": 128, "epochs": 4})
    fast_heartbeat = {"HPADVISOR_HEARTBEAT_S": "1", "HPADVISOR_GRACE_S": "3",
                      "HPADVISOR_TEST_EPOCH_S": "0.5"}
    victim = start_worker(url, directory, **fast_heartbeat)
    deadline = time.monotonic() + 60
    while not study(url, job["id"]).get_trials(states=(TrialState.RUNNING,)):
        assert time.monotonic() < deadline, "the first worker never started a trial"
        time.sleep(0.2)
    time.sleep(0.6)  # mid-trial
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    wait_all([start_worker(url, directory, "--once", **fast_heartbeat)])
    trials = study(url, job["id"]).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(failed) == 1 and len(complete) == 3
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retried and retried[0].params == failed[0].params
    with server.client() as client:
        assert client.get(f"/v1/jobs/{job['id']}").json()["state"] == "succeeded"


def test_sigterm_lets_the_current_trial_finish_then_exits(stack, request):
    """Injects: SIGTERM to a worker mid-trial. Must hold: it exits 0 after finishing that
    trial (complete, not abandoned as running), and a later worker completes the job."""
    server, url, directory = stack
    job = submit(server, objective="quick", n_trials=4, pruner="none",
                 training={"batch_size": 128, "epochs": 4})
    worker = start_worker(url, directory, HPADVISOR_TEST_EPOCH_S="0.4")
    deadline = time.monotonic() + 60
    while not study(url, job["id"]).get_trials(states=(TrialState.RUNNING,)):
        assert time.monotonic() < deadline, "the worker never started a trial"
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    trials = study(url, job["id"]).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert [t.state for t in trials][:1] == [TrialState.COMPLETE]  # finished, not abandoned
    wait_all([start_worker(url, directory, "--once")])
    assert len(study(url, job["id"]).get_trials(states=(TrialState.COMPLETE,))) == 4


def test_a_worker_whose_database_never_answers_says_so_in_one_line(tmp_path) -> None:
    """The one thing a worker cannot work around at start: no database. Exit 2, one line
    naming --database-url, the password hidden, no traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "worker", "--once", "--database-url",
         "postgresql+psycopg://someone:secret@127.0.0.1:9/nowhere"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("hpadvisor: error: --database-url: no database answers at ")
    assert "secret" not in done.stderr and "Traceback" not in done.stderr
