"""Reliability under concurrency and faults, with real processes and the real databases.

Every test runs the registered test objective `quick` (tests/worker/plugins: no training, a
deterministic curve, an optional pause per epoch), so what is measured is coordination, not
arithmetic. Each docstring says what the test injects and what must hold afterwards. All are
bounded in time (`wait_all`'s timeout, the `pytest-timeout` mark).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from optuna.trial import TrialState
from sqlalchemy import create_engine, text

from processes import start_proxy, start_worker, storage_proxy, study, submit, wait_all, wait_for
from servers import LiveServer, free_port, fresh_database, run_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

PG_VERSION, PG_CLUSTER = "15", "main"


def offered(backend: str, directory: Path) -> Iterator[tuple[str, LiveServer]]:
    """A fresh database where a worker host has offered `quick`, and the API on it."""
    with fresh_database(backend, directory) as url:
        wait_all([start_worker(url, directory, "--once")])
        with run_server(url, directory, HPADVISOR_WARM_TRAINER="0") as server:
            yield url, server


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[tuple[str, LiveServer]]:
    yield from offered("postgresql", tmp_path)


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[tuple[str, LiveServer]]:
    yield from offered("sqlite", tmp_path)



def completed(url: str, job_id: int) -> int:
    return len(study(url, job_id).get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def assert_exactly(url: str, job_id: int, n_trials: int) -> None:
    """n_trials complete trials, nothing failed or left running, the advisor's trial once."""
    trials = study(url, job_id).get_trials(deepcopy=False)
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == n_trials, states
    assert len(trials) == n_trials, states
    assert sum(t.user_attrs.get("hpadvisor_role") == "advisor" for t in trials) == 1


def job_state(server: LiveServer, job_id: int) -> str:
    with server.client() as http:
        return str(http.get(f"/v1/jobs/{job_id}").json()["state"])


def worker_logs(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in directory.glob("worker-*.log"))


@pytest.mark.postgres
def test_four_workers_on_postgresql_share_one_job_exactly(postgres, tmp_path: Path) -> None:
    """Injects: four workers started together on one 40-trial job of instant trials, so they
    race for the seed flag and for every claim. Must hold: exactly 40 complete trials, none
    failed or extra, the advisor's configuration run exactly once, the job succeeded."""
    url, server = postgres
    job = submit(server, objective="quick", n_trials=40, pruner="none",
                 training={"batch_size": 128, "epochs": 2})
    wait_all([start_worker(url, tmp_path, "--once") for _ in range(4)], timeout=200)
    assert_exactly(url, job["id"], 40)
    assert job_state(server, job["id"]) == "succeeded"
    assert "Traceback" not in worker_logs(tmp_path)
    # Shared, not run by whichever worker came first: the job's trials are spread over workers.
    runners = [log for log in tmp_path.glob("worker-*.log")
               if f"job {job['id']}: trial" in log.read_text() and
               " complete (value " in log.read_text()]
    assert len(runners) >= 2, "one worker ran every trial"


def test_two_workers_on_sqlite_never_hit_database_is_locked(sqlite, tmp_path: Path) -> None:
    """Injects: two workers writing to the default SQLite file at once, as fast as trials can
    go (instant trials, progress on every epoch), while the API reads it. Must hold: no
    'database is locked' anywhere in the workers' logs, every trial complete, job succeeded."""
    url, server = sqlite
    job = submit(server, objective="quick", n_trials=24, pruner="none",
                 training={"batch_size": 128, "epochs": 3})
    workers = [start_worker(url, tmp_path, "--once", HPADVISOR_PROGRESS_S="0")
               for _ in range(2)]
    with server.client() as http:
        while any(w.poll() is None for w in workers):
            assert http.get(f"/v1/jobs/{job['id']}").status_code == 200
            time.sleep(0.05)
    wait_all(workers)
    logs = worker_logs(tmp_path)
    assert "database is locked" not in logs.lower()
    assert_exactly(url, job["id"], 24)
    assert job_state(server, job["id"]) == "succeeded"


def test_api_restarted_mid_job_loses_nothing(sqlite, tmp_path: Path) -> None:
    """Injects: the API process stopped while a worker is mid-job, then a new API process on
    the same database. Must hold: the worker never notices, the new API shows the same job
    with the trials done before the restart, and the job finishes with every trial."""
    url, server = sqlite
    job = submit(server, objective="quick", n_trials=10, pruner="none",
                 training={"batch_size": 128, "epochs": 2})
    worker = start_worker(url, tmp_path, "--once", HPADVISOR_TEST_EPOCH_S="0.15")
    wait_for(lambda: completed(url, job["id"]) >= 2, "two trials before the restart")
    with server.client() as http:
        before = http.get(f"/v1/jobs/{job['id']}").json()
    # Leave the fixture's server as it is and stop it ourselves: a real restart.
    server_log = next(tmp_path.glob("server-*.log"))
    pid = _server_pid(server)
    os.kill(pid, 15)
    wait_for(lambda: _gone(pid), "the old API to exit", timeout=20)
    assert worker.poll() is None, "the worker stopped with the API"
    done_while_down = completed(url, job["id"])
    with run_server(url, tmp_path, HPADVISOR_WARM_TRAINER="0") as again:
        with again.client() as http:
            during = http.get(f"/v1/jobs/{job['id']}").json()
        assert during["recommendation"] == before["recommendation"]
        assert during["trials_done"] >= done_while_down >= before["trials_done"]
        wait_all([worker])
        assert job_state(again, job["id"]) == "succeeded"
    assert_exactly(url, job["id"], 10)
    assert server_log.exists()


def _server_pid(server: LiveServer) -> int:
    """The pid of the `hpadvisor serve` process listening on the server's port."""
    port = server.url.rsplit(":", 1)[1]
    found = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    for line in found.splitlines():
        if "api.cli serve" in line and f"--port {port}" in line:
            return int(line.split()[0])
    raise AssertionError(f"no server process on port {port}")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split()[2] == "Z"


def _can_restart_postgres() -> str | None:
    if shutil.which("pg_ctlcluster") is None:
        return "pg_ctlcluster is not installed (Debian's postgresql-common)"
    if os.geteuid() != 0:
        return "restarting the PostgreSQL cluster needs root (the tests' machine runs as root)"
    return None


@pytest.mark.postgres
def test_postgresql_restarted_under_running_workers(postgres, tmp_path: Path) -> None:
    """Injects: a restart of the PostgreSQL server (every connection dropped, the server
    refusing new ones for a moment) while two workers are mid-trial. Must hold: both workers
    stay up and reconnect, the job finishes with exactly n_trials complete trials, and no
    trial is lost (a trial interrupted by the restart is failed and re-run, never dropped)."""
    reason = _can_restart_postgres()
    if reason:
        pytest.skip(reason)
    url, server = postgres
    job = submit(server, objective="quick", n_trials=12, pruner="none",
                 training={"batch_size": 128, "epochs": 3})
    env = {"HPADVISOR_TEST_EPOCH_S": "0.2", "HPADVISOR_HEARTBEAT_S": "1",
           "HPADVISOR_GRACE_S": "4"}
    workers = [start_worker(url, tmp_path, "--once", **env) for _ in range(2)]
    wait_for(lambda: completed(url, job["id"]) >= 2, "two trials before the restart")
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, PG_CLUSTER,
                    "restart"], check=True, timeout=60)
    assert all(w.poll() is None for w in workers), worker_logs(tmp_path)[-3000:]
    wait_all(workers, timeout=180)
    trials = study(url, job["id"]).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12, [t.state for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    rerun = {t.system_attrs.get("failed_trial") for t in complete}
    assert all(t.number in rerun for t in failed), [
        (t.number, t.state.name, t.system_attrs.get("failed_trial"),
         t.system_attrs.get("retry_history"), t.user_attrs) for t in trials]
    assert sum(t.user_attrs.get("hpadvisor_role") == "advisor" for t in complete) == 1
    assert job_state(server, job["id"]) == "succeeded"


@pytest.mark.postgres
def test_workers_through_the_storage_proxy_share_a_job_and_survive_a_kill(postgres, tmp_path):
    """Injects: three workers that reach Optuna's storage only through `hpadvisor
    storage-proxy` in front of PostgreSQL; one of them is SIGKILLed mid-trial. Must hold: the
    dead worker's trial is failed by the heartbeat (recorded through the proxy) and re-run with
    its parameters, the job ends with exactly n_trials complete trials and the advisor's
    configuration once, and every trial's heartbeat went through the proxy (none in Optuna's
    RDB heartbeat table, which only a direct connection writes)."""
    url, server = postgres
    job = submit(server, objective="quick", n_trials=12, pruner="none",
                 training={"batch_size": 128, "epochs": 3})
    env = {"HPADVISOR_TEST_EPOCH_S": "0.3", "HPADVISOR_HEARTBEAT_S": "1",
           "HPADVISOR_GRACE_S": "3"}
    with storage_proxy(url, tmp_path) as address:
        victim = start_worker(url, tmp_path, "--storage", address, **env)
        wait_for(lambda: study(url, job["id"]).get_trials(states=(TrialState.RUNNING,)),
                 "the first worker's trial", timeout=90)
        time.sleep(0.5)  # mid-trial: its heartbeat has been recorded through the proxy
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        wait_all([start_worker(url, tmp_path, "--once", "--storage", address, **env)
                  for _ in range(2)], timeout=180)
    trials = study(url, job["id"]).get_trials(deepcopy=False)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12 and len(failed) == 1, [t.state for t in trials]
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == failed[0].number]
    assert retried and retried[0].params == failed[0].params
    assert sum(t.user_attrs.get("hpadvisor_role") == "advisor" for t in complete) == 1
    assert all("hpadvisor:heartbeat" in t.system_attrs for t in trials)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM trial_heartbeats")) == 0
    engine.dispose()
    assert job_state(server, job["id"]) == "succeeded"
    assert "Traceback" not in worker_logs(tmp_path)


@pytest.mark.postgres
def test_storage_proxy_restarted_under_running_workers(postgres, tmp_path: Path) -> None:
    """Injects: the storage proxy killed (SIGKILL) while two workers are mid-job behind it, and
    a new proxy on the same port a few seconds later. Must hold: both workers stay up (they
    retry as when the database goes away), the job finishes with exactly n_trials complete
    trials and the advisor's configuration once, and every trial cut off was re-run."""
    url, server = postgres
    job = submit(server, objective="quick", n_trials=12, pruner="none",
                 training={"batch_size": 128, "epochs": 3})
    port = free_port()
    proxy = start_proxy(url, tmp_path, port)
    env = {"HPADVISOR_TEST_EPOCH_S": "0.2", "HPADVISOR_HEARTBEAT_S": "1",
           "HPADVISOR_GRACE_S": "3"}
    address = f"grpc://127.0.0.1:{port}"
    workers = [start_worker(url, tmp_path, "--once", "--storage", address, **env)
               for _ in range(2)]
    try:
        wait_for(lambda: completed(url, job["id"]) >= 3, "three trials before the kill", 90)
        proxy.send_signal(signal.SIGKILL)
        proxy.wait()
        time.sleep(3)
        assert all(w.poll() is None for w in workers), worker_logs(tmp_path)[-3000:]
        proxy = start_proxy(url, tmp_path, port)
        wait_all(workers, timeout=180)
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
    trials = study(url, job["id"]).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 12, [t.state for t in trials]
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    rerun = {t.system_attrs.get("failed_trial") for t in complete}
    assert all(t.number in rerun for t in trials if t.state == TrialState.FAIL), [
        (t.number, t.state.name, t.system_attrs.get("failed_trial"),
         t.system_attrs.get("retry_history"), t.user_attrs) for t in trials]
    assert sum(t.user_attrs.get("hpadvisor_role") == "advisor" for t in complete) == 1
    assert job_state(server, job["id"]) == "succeeded"
    assert "retrying in" in worker_logs(tmp_path)  # the workers did notice the proxy was gone
