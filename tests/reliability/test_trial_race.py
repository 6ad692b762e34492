"""The race that ran one trial in two workers on SQLite, provoked on purpose.

Optuna pops an enqueued trial by reading it as WAITING and setting it RUNNING. On PostgreSQL
the read is `SELECT ... FOR UPDATE`; SQLite has no such lock and Python's sqlite3 runs the read
outside any transaction, so two processes both pop the trial, both run it, and the second dies
telling it ("Cannot tell a COMPLETE trial", optuna#4002, optuna#4621). Here several processes
pop hundreds of enqueued instant trials as fast as they can through the worker's storage:
with plain `RDBStorage` about one pop in ten was a duplicate on this machine (measured: 334
pops of 300 trials with four processes); with the worker's `BEGIN IMMEDIATE` storage none is.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from worker.trial_storage import make_worker_rdb_storage

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]

N_ENQUEUED = 120
N_PROCESSES = 4


def _storage(url: str) -> optuna.storages.BaseStorage:
    return make_worker_rdb_storage(url, heartbeat_interval=60, grace_period=120,
                                   on_stale=lambda _study, _trial: None)


def _optimize_until_empty(url: str, results: multiprocessing.Queue) -> None:  # type: ignore
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="race", storage=_storage(url))
    ran: list[int] = []
    error = ""

    def objective(trial: optuna.Trial) -> float:
        if "enqueued" not in trial.user_attrs:  # the queue ran dry under this process
            raise optuna.TrialPruned
        ran.append(trial.suggest_int("i", 0, N_ENQUEUED))
        return float(ran[-1])

    try:
        while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            study.optimize(objective, n_trials=1)
    except Exception as caught:  # a second teller dies here without the fix
        error = f"{type(caught).__name__}: {caught}"
    results.put((ran, error))


def test_processes_popping_enqueued_trials_on_sqlite_never_share_one(tmp_path: Path) -> None:
    """Injects: four processes popping 120 enqueued instant trials at once from one SQLite file
    through the worker's storage. Must hold: every enqueued trial ran exactly once, every trial
    is COMPLETE, and no process died of a trial another one had told."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    study = optuna.create_study(study_name="race", storage=_storage(url), direction="maximize")
    for i in range(N_ENQUEUED):
        study.enqueue_trial({"i": i}, user_attrs={"enqueued": True})
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    processes = [context.Process(target=_optimize_until_empty, args=(url, results))
                 for _ in range(N_PROCESSES)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=200) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, error in outcomes if error]
    ran = sorted(i for numbers, _ in outcomes for i in numbers)
    assert not errors, errors
    assert ran == list(range(N_ENQUEUED)), f"{len(ran) - len(set(ran))} trials ran twice"
    trials = optuna.load_study(study_name="race", storage=url).trials
    enqueued = [t.state for t in trials if "enqueued" in t.user_attrs]
    assert enqueued == [TrialState.COMPLETE] * N_ENQUEUED
    assert sum(len(numbers) > 0 for numbers, _ in outcomes) >= 2, "one process ran them all"
