"""The worker loop when the database drops at the worst moments, in process on SQLite.

A lost connection is injected as SQLAlchemy's OperationalError (what psycopg raises when
PostgreSQL goes away) at two points where a write was made and its follow-up was not: after a
claim, before its trial started; after the seed flag, before the advisor's trial was enqueued.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

from worker import loop, objectives, trial_run
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.settings import Settings
from worker.store import Job, make_engine, make_sessionmaker, session_scope, upgrade
from worker.store.models import utcnow
from worker.store.optuna_rdb import make_storage
from worker.studies import create_job_study, study_name_for

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SPACE = [{"key": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True,
          "default": 0.1}]
N_TRIALS = 4


def instant(ctx: objectives.TrialContext) -> float:
    value = float(ctx.config["learning_rate"])
    ctx.report(1, value, epochs=1, train_accuracy=value)
    return value


def worker_for(url: str, **settings: object) -> loop.Worker:
    """A worker polling every 10 ms, whose lost claims would end the job after 2 s (grace)."""
    return loop.Worker(url, loop.WorkerOptions(poll_s=0.01),
                       settings=Settings(grace_s=2).model_copy(update=settings))


def lost_connection() -> OperationalError:
    return OperationalError("UPDATE jobs ...", {}, Exception("server closed the connection"))


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, int]:
    monkeypatch.setitem(objectives.registered_objectives(), "test-instant", instant)
    monkeypatch.setattr(loop.time, "sleep", lambda _s: None)  # no back-off pauses
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        row = Job(state="queued", objective="test-instant", dataset="none", model_name="none",
                  n_trials=N_TRIALS, timeout_s=None, sampler="random", pruner="none", seed=0,
                  tune=["learning_rate"], request={},
                  recommendation={"hyperparameters": {"epochs": 1, "learning_rate": 0.1,
                                                       "batch_size": 32, "optimizer": "sgd"},
                                  "params_millions": 0.1, "model_family": "toy"},
                  search_space=SPACE)
        session.add(row)
        session.flush()
        job_id = row.id
    engine.dispose()
    create_job_study(make_storage(url), job_id)
    return url, job_id


def finished(url: str, job_id: int) -> tuple[list[optuna.trial.FrozenTrial], Job]:
    trials = optuna.load_study(study_name=study_name_for(job_id), storage=url).trials
    with make_sessionmaker(make_engine(url))() as session:
        row = session.get(Job, job_id)
        assert row is not None
        return trials, row


def test_a_claim_whose_trial_never_started_is_returned_once_the_database_is_back(job):
    url, job_id = job
    worker = worker_for(url)
    run_one_trial = worker.run_one_trial
    calls = 0

    def drops_before_the_second_trial(claimed: Job, study: optuna.Study) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise lost_connection()
        return run_one_trial(claimed, study)

    worker.run_one_trial = drops_before_the_second_trial  # type: ignore[method-assign]
    worker.run(once=True)

    trials, row = finished(url, job_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS
    assert row.state == "succeeded" and row.trials_claimed == N_TRIALS


def test_a_seeding_cut_before_the_advisor_trial_was_enqueued_is_done_again(job, monkeypatch):
    url, job_id = job
    enqueue = optuna.Study.enqueue_trial
    calls = 0

    def drops_the_first_time(self: optuna.Study, *args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise lost_connection()
        enqueue(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(optuna.Study, "enqueue_trial", drops_the_first_time)
    worker_for(url).run(once=True)

    trials, row = finished(url, job_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS
    advisor = [t for t in trials if t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE]
    assert len(advisor) == 1 and advisor[0].number == 0
    assert row.state == "succeeded"


def test_an_error_telling_a_trial_fails_and_requeues_it_and_the_worker_goes_on(job, monkeypatch):
    """Injects: Optuna's tell raising (as when two workers held one trial: "Cannot tell a
    COMPLETE trial") for the second trial. Must hold: the worker does not die; that trial is
    failed with the reason in its attributes, its parameters re-run; the job gets its budget."""
    url, job_id = job
    tell = optuna.study._optimize._tell_with_warning
    calls = 0

    def fails_the_second_time(*args: object, **kwargs: object):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("Cannot tell a COMPLETE trial.")
        return tell(*args, **kwargs)

    monkeypatch.setattr(optuna.study._optimize, "_tell_with_warning", fails_the_second_time)
    worker_for(url).run(once=True)

    trials, row = finished(url, job_id)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(failed) == 1 and len(complete) == N_TRIALS
    assert failed[0].user_attrs[trial_run.ERROR_ATTR] == "ValueError: Cannot tell a COMPLETE trial."
    assert "worker error" in failed[0].system_attrs["fail_reason"]
    rerun = [t for t in complete if t.user_attrs.get(trial_run.REQUEUES_ATTR) == 1]
    assert len(rerun) == 1 and rerun[0].params == failed[0].params
    assert row.state == "succeeded"


def test_an_error_writing_progress_costs_no_trial_and_no_worker(job, monkeypatch, caplog):
    url, job_id = job
    worker = worker_for(url, progress_s=1e9)  # progress only after each trial
    write = worker.rows.write_progress
    calls = 0

    def fails_once(job_id: int, progress: dict) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TypeError("Object of type ndarray is not JSON serializable")
        return write(job_id, progress)

    worker.rows.write_progress = fails_once  # type: ignore[method-assign]
    worker.run(once=True)

    trials, row = finished(url, job_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS
    assert row.state == "succeeded"
    assert "progress not written: TypeError" in caplog.text


def test_a_job_that_keeps_breaking_the_worker_is_failed_with_the_reason(job, monkeypatch):
    url, job_id = job
    worker = worker_for(url)

    def broken(_job_id: int) -> bool:
        raise KeyError("no study named hpadvisor-job-1")

    worker.work_on = broken  # type: ignore[method-assign]
    worker.run(once=True)
    _, row = finished(url, job_id)
    assert row.state == "failed" and "KeyError" in (row.error or "")


def test_a_trial_cut_by_the_database_is_rerun_even_when_its_requeue_is_cut_too(job, monkeypatch):
    """Injects: the database lost mid-trial (the objective's write fails), and lost again while
    the worker re-queues that trial's parameters. Must hold: the re-queue is owed and made when
    the database answers; the job still gets exactly its budget of complete trials."""
    url, job_id = job
    reports = 0

    def loses_the_database_once(ctx: objectives.TrialContext) -> float:
        nonlocal reports
        reports += 1
        if reports == 2:
            raise lost_connection()
        return instant(ctx)

    monkeypatch.setitem(objectives.registered_objectives(), "test-instant",
                        loses_the_database_once)
    enqueue = optuna.Study.enqueue_trial
    enqueues = 0

    def drops_the_requeue(self: optuna.Study, *args: object, **kwargs: object) -> None:
        nonlocal enqueues
        enqueues += 1
        if enqueues == 2:  # the first is the advisor's seed; the second the re-queue
            raise lost_connection()
        enqueue(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(optuna.Study, "enqueue_trial", drops_the_requeue)
    worker_for(url).run(once=True)

    trials, row = finished(url, job_id)
    assert [t.state for t in trials].count(TrialState.COMPLETE) == N_TRIALS
    assert [t.state for t in trials].count(TrialState.FAIL) == 1
    assert row.state == "succeeded" and row.trials_claimed == N_TRIALS


def test_a_worker_waits_for_the_advisors_trial_while_another_seeds_it(job):
    """Injects: the seed flag won by another worker that is still probing (no advisor trial
    yet, its seeding fresh). Must hold: this worker claims nothing, so the advisor's trial
    comes first; once the seeder has been silent past the grace period, it goes on."""
    url, job_id = job
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.get(Job, job_id)
        assert row is not None
        row.seeded, row.heartbeat_at = True, utcnow()
    worker = worker_for(url, grace_s=3600)
    assert worker.work_on(job_id) is False
    _, row = finished(url, job_id)
    assert row.trials_claimed == 0

    with session_scope(make_sessionmaker(engine)) as session:
        stale = session.get(Job, job_id)
        assert stale is not None
        stale.heartbeat_at = utcnow() - timedelta(hours=2)
    engine.dispose()
    assert worker.work_on(job_id) is True
    _, row = finished(url, job_id)
    assert row.trials_claimed == N_TRIALS
