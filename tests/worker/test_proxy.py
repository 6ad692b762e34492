"""The gRPC storage proxy's client side: addresses, and Optuna's heartbeat carried through it.

A real proxy (Optuna's `run_grpc_proxy_server`) serves an in-memory storage in a thread; the
heartbeat, the stale check and the retry callback run through Optuna's own `fail_stale_trials`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from servers import free_port
from worker.proxy import BEAT_ATTR, HeartbeatGrpcStorage, is_grpc_url, parse_grpc_url

# Outside study.optimize (as here) Optuna warns that heartbeats belong in optimize; and its
# heartbeat functions are marked experimental. Both are expected in these tests.
pytestmark = [pytest.mark.filterwarnings("ignore:Heartbeat of storage"),
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]


@pytest.mark.parametrize(("url", "expected"), [
    ("grpc://10.0.0.5:13001", ("10.0.0.5", 13001)),
    ("grpc://proxy.internal", ("proxy.internal", 13000)),
])
def test_grpc_addresses_parse(url: str, expected: tuple[str, int]) -> None:
    assert is_grpc_url(url)
    assert parse_grpc_url(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://h/db", "expected grpc://host:port"),
    ("grpc://", "expected grpc://host:port"),
    ("h:13000", "expected grpc://host:port"),
    ("grpc://h:99999", "not a number from 1 to 65535"),
])
def test_bad_grpc_addresses_say_what_is_expected(url: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_grpc_url(url)
    assert message in str(error.value)


def storage(url: str, retried: list[int] | None = None) -> HeartbeatGrpcStorage:
    def on_stale(_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        assert retried is not None
        retried.append(trial.number)

    client = HeartbeatGrpcStorage(url, heartbeat_interval=1, grace_period=5,
                                  stale_trial_callback=on_stale)
    client.wait_server_ready(timeout=20)
    return client


def test_only_trials_whose_beat_is_older_than_the_grace_period_are_failed(proxy_url) -> None:
    retried: list[int] = []
    client = storage(proxy_url, retried)
    study = optuna.create_study(storage=client)
    silent, beating = (study.ask() for _ in range(2))
    client.record_heartbeat(beating._trial_id)
    started_long_ago = create_trial(state=TrialState.RUNNING)
    started_long_ago.datetime_start = datetime.now() - timedelta(seconds=70)
    stale_id = client.create_new_trial(study._study_id, template_trial=started_long_ago)
    client.set_trial_system_attr(stale_id, BEAT_ATTR, time.time() - 60)
    stale = client.get_trial(stale_id)

    optuna.storages.fail_stale_trials(study)

    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states == {silent.number: TrialState.RUNNING, beating.number: TrialState.RUNNING,
                      stale.number: TrialState.FAIL}
    assert retried == [stale.number]


def test_a_beat_after_another_worker_failed_the_trial_is_ignored(proxy_url) -> None:
    client = storage(proxy_url)
    study = optuna.create_study(storage=client)
    trial = study.ask()
    study.tell(trial, state=TrialState.FAIL)
    client.record_heartbeat(trial._trial_id)  # must not raise in the heartbeat thread
    assert study.trials[0].state == TrialState.FAIL


def run_worker(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "api.cli", "worker", "--once", *args],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_worker_refuses_a_storage_that_is_not_a_grpc_address(tmp_path) -> None:
    done = run_worker("--database-url", f"sqlite:///{tmp_path}/h.db",
                      "--storage", "postgresql://elsewhere/db")
    assert done.returncode == 2
    assert "--storage: expected grpc://host:port" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_says_when_no_proxy_answers(tmp_path) -> None:
    done = run_worker("--database-url", f"sqlite:///{tmp_path}/h.db",
                      "--storage", f"grpc://127.0.0.1:{free_port()}",
                      HPADVISOR_PROXY_WAIT_S="1")
    assert done.returncode == 2
    assert "no Optuna storage proxy answers at grpc://127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
