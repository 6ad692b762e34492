"""The worker's Optuna storage: trials that never beat become stale, a failed beat does not end
the heartbeat, and the claim hook fires exactly when a trial becomes RUNNING. On SQLite (RDB)
and through a real gRPC storage proxy in a thread."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import optuna
import pytest
from optuna.storages._rdb import models
from optuna.trial import TrialState, create_trial
from sqlalchemy.exc import OperationalError

from worker.proxy import BEAT_ATTR, HeartbeatGrpcStorage
from worker.trial_storage import make_worker_rdb_storage

pytestmark = [pytest.mark.filterwarnings("ignore:Heartbeat of storage"),
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

GRACE_S = 5


@pytest.fixture(params=["rdb", "proxy"])
def storage_and_retried(request: pytest.FixtureRequest, tmp_path: Path):
    retried: list[int] = []

    def on_stale(_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        retried.append(trial.number)

    if request.param == "rdb":
        storage = make_worker_rdb_storage(f"sqlite:///{tmp_path / 'beat.db'}",
                                          heartbeat_interval=1, grace_period=GRACE_S,
                                          on_stale=on_stale)
    else:
        storage = HeartbeatGrpcStorage(request.getfixturevalue("proxy_url"),
                                       heartbeat_interval=1, grace_period=GRACE_S,
                                       stale_trial_callback=on_stale)
        storage.wait_server_ready(timeout=20)
    return storage, retried


def running_since(study: optuna.Study, seconds_ago: float) -> int:
    """A RUNNING trial that started `seconds_ago` and never beat; its number."""
    template = create_trial(state=TrialState.RUNNING)
    template.datetime_start = datetime.now() - timedelta(seconds=seconds_ago)
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    return study._storage.get_trial(trial_id).number


def test_a_running_trial_that_never_beat_is_stale_after_the_grace_period(storage_and_retried):
    storage, retried = storage_and_retried
    study = optuna.create_study(storage=storage)
    orphan = running_since(study, 4 * GRACE_S)
    fresh = running_since(study, 0)
    beating = study.ask()
    storage.record_heartbeat(beating._trial_id)

    optuna.storages.fail_stale_trials(study)

    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    assert states[orphan] == TrialState.FAIL
    assert states[fresh] == TrialState.RUNNING and states[beating.number] == TrialState.RUNNING
    assert retried == [orphan]


def test_the_claim_hook_fires_when_a_trial_becomes_running_not_when_one_is_enqueued(
        storage_and_retried):
    storage, _ = storage_and_retried
    started: list[int] = []
    storage.on_trial_started = started.append
    study = optuna.create_study(storage=storage)
    study.enqueue_trial({"x": 1.0})
    assert started == []
    popped = study.ask()  # pops the enqueued trial
    created = study.ask()  # nothing waiting: a new trial
    assert started == [popped._trial_id, created._trial_id]


def test_a_failed_beat_is_logged_and_the_heartbeat_goes_on(tmp_path: Path, monkeypatch,
                                                           caplog) -> None:
    storage = make_worker_rdb_storage(f"sqlite:///{tmp_path / 'beat.db'}",
                                      heartbeat_interval=1, grace_period=GRACE_S,
                                      on_stale=lambda *_: None)
    study = optuna.create_study(storage=storage)
    trial = study.ask()

    def database_gone(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("SELECT trial_heartbeats", {}, Exception("server closed"))

    # Lost under Optuna's own RDB code, which raises it as a StorageInternalError.
    monkeypatch.setattr(models.TrialHeartbeatModel, "where_trial_id", database_gone)
    storage.record_heartbeat(trial._trial_id)  # must not raise (it would end the thread)
    assert f"heartbeat of trial {trial._trial_id} not recorded: " in caplog.text
    assert "server closed" in caplog.text


def test_the_proxys_beat_attribute_still_counts_over_the_start(proxy_url) -> None:
    storage = HeartbeatGrpcStorage(proxy_url, heartbeat_interval=1, grace_period=GRACE_S)
    storage.wait_server_ready(timeout=20)
    study = optuna.create_study(storage=storage)
    number = running_since(study, 4 * GRACE_S)
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    storage.set_trial_system_attr(trial_id, BEAT_ATTR, datetime.now().timestamp())
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials(deepcopy=False)[0].state == TrialState.RUNNING


def test_a_rerun_that_inherited_a_dead_trials_beat_is_not_stale_before_its_own(proxy_url):
    """Optuna's retry callback copies the dead trial's system attributes, its last beat among
    them, into the re-run. Popped, the re-run must count from its own start."""
    storage = HeartbeatGrpcStorage(proxy_url, heartbeat_interval=1, grace_period=GRACE_S)
    storage.wait_server_ready(timeout=20)
    study = optuna.create_study(storage=storage)
    template = create_trial(state=TrialState.RUNNING,
                            system_attrs={BEAT_ATTR: datetime.now().timestamp() - 4 * GRACE_S})
    study._storage.create_new_trial(study._study_id, template_trial=template)
    optuna.storages.fail_stale_trials(study)
    assert study.get_trials(deepcopy=False)[0].state == TrialState.RUNNING
