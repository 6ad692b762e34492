"""The worker loop when the database drops at the worst moments, in process on SQLite (and
through a real gRPC storage proxy in a thread).

A lost connection is injected as SQLAlchemy's OperationalError (what psycopg raises when
PostgreSQL goes away), as the StorageInternalError Optuna's RDB storage turns it into, or as the
gRPC error the storage proxy's client raises: where a write was made and its follow-up was not
(after a claim, before its trial started; after the seed flag, before the advisor's trial was
enqueued), and at every write a running trial makes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import optuna
import pytest
from optuna.exceptions import StorageInternalError
from optuna.storages import GrpcStorageProxy, InMemoryStorage, RDBStorage
from optuna.storages._grpc.server import make_server
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

from servers import free_port
from worker import loop, objectives, results, trial_run
from worker.job_rows import JobRows
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.objectives import CONFIG_ATTR
from worker.offers import Offer, OfferHeartbeat
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


def worker_for(url: str, storage_url: str | None = None, **settings: object) -> loop.Worker:
    """A worker polling every 10 ms, whose lost claims would end the job after 2 s (grace),
    offering the test objective and the job's placeholder data set."""
    return loop.Worker(url, loop.WorkerOptions(poll_s=0.01), storage_url=storage_url,
                       settings=Settings(grace_s=2).model_copy(update=settings),
                       offer=Offer(objectives=("test-instant",), datasets=("none",)))


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


def test_a_worker_started_while_the_database_is_lost_records_its_offer_when_it_is_back(
        job, monkeypatch, caplog):
    url, job_id = job
    drops_once(monkeypatch, OfferHeartbeat, "beat", lost_connection(), when=lambda: True)
    with caplog.at_level(logging.WARNING, logger="hpadvisor.worker"):
        worker_for(url, heartbeat_s=1).run(once=True)  # the loop beats again within a second
    trials, row = finished(url, job_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * N_TRIALS
    assert row.state == "succeeded"
    assert "could not record this worker's offer yet" in caplog.text


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
    add = optuna.Study.add_trial
    adds = 0

    def drops_the_requeue(self: optuna.Study, *args: object, **kwargs: object) -> None:
        nonlocal adds
        adds += 1
        if adds == 2:  # the first is the advisor's seed (enqueue_trial); the second the re-queue
            raise lost_connection()
        add(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(optuna.Study, "add_trial", drops_the_requeue)
    worker_for(url).run(once=True)

    trials, row = finished(url, job_id)
    assert adds >= 3  # the re-queue was cut off, then made
    assert [t.state for t in trials].count(TrialState.COMPLETE) == N_TRIALS
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1
    assert [t.system_attrs.get("failed_trial") for t in trials].count(failed[0].number) == 1
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


# --- a running trial cut off by the lost database ----------------------------------------------
#
# The database drops for one write of the job's second trial and answers again at once, so
# Optuna's own `tell` fails the trial (study.optimize's catch=(Exception,)). That trial must be
# re-run through Optuna's retry callback (`failed_trial` on the re-run) with its claim returned,
# wherever the write was: Optuna's or ours, inside the objective or around it.


class ProxyDown(grpc.RpcError):
    """What the storage proxy's client raises when the proxy (or the database behind it) is
    gone."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


@dataclass
class Backend:
    """The job (its table on `url`) and Optuna's storage: the database itself, or a real gRPC
    storage proxy (`storage_url`) in front of an in-memory storage."""

    url: str
    job_id: int
    storage_url: str | None
    storage_class: type  # the class whose methods reach the database
    study: Callable[[], optuna.Study]  # the job's study, as another worker loads it

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return self.study().trials

    def lost(self) -> Exception:
        """What a storage call raises when the database goes away: Optuna's RDB storage wraps
        SQLAlchemy's error in a StorageInternalError; the proxy's client raises gRPC's."""
        if self.storage_url is not None:
            return ProxyDown()
        error = StorageInternalError("An exception is raised during the commit.")
        error.__cause__ = lost_connection()
        return error


@pytest.fixture(params=["sqlite", "proxy"])
def backend(request: pytest.FixtureRequest, job: tuple[str, int]) -> Iterator[Backend]:
    url, job_id = job
    if request.param == "sqlite":
        yield Backend(url, job_id, None, RDBStorage,
                      lambda: optuna.load_study(study_name=study_name_for(job_id), storage=url))
        return
    port = free_port()
    server = make_server(InMemoryStorage(), "127.0.0.1", port)
    server.start()
    client = GrpcStorageProxy(host="127.0.0.1", port=port)
    client.wait_server_ready(timeout=20)
    create_job_study(client, job_id)
    try:
        yield Backend(url, job_id, f"grpc://127.0.0.1:{port}", GrpcStorageProxy,
                      lambda: optuna.load_study(study_name=study_name_for(job_id),
                                                storage=client))
    finally:
        client.close()
        server.stop(0)


def drops_once(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, error: Exception,
               when: Callable[..., bool]) -> None:
    """`owner.name` raises `error` at the first call for which `when(*args, **kwargs)`."""
    original = getattr(owner, name)
    dropped = False

    def method(self: object, *args: Any, **kwargs: Any) -> Any:
        nonlocal dropped
        if not dropped and when(*args, **kwargs):
            dropped = True
            raise error
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, name, method)


def nth_trial(n: int, key: str | None = None, cut: list[int] | None = None
              ) -> Callable[..., bool]:
    """For a storage write `(trial_id, ...)`: whether it is about the job's `n`th trial (1: the
    advisor's), with user attribute `key` when given; its id is appended to `cut`."""
    seen: list[int] = []

    def when(trial_id: int, *args: Any, **kwargs: Any) -> bool:
        if key is not None and kwargs.get("key", args[0] if args else None) != key:
            return False
        if trial_id not in seen:
            seen.append(trial_id)
        if seen.index(trial_id) != n - 1:
            return False
        if cut is not None:
            cut.append(trial_id)
        return True

    return when


def second_trial(key: str | None = None) -> Callable[..., bool]:
    """`nth_trial` for the first trial the sampler chose."""
    return nth_trial(2, key)


def assert_rerun_once(backend: Backend) -> None:
    """Exactly the budget complete; the cut trial failed and re-run by Optuna's retry callback
    with what it had of its parameters; its claim returned; the advisor's trial once."""
    trials = backend.trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS and len(failed) == 1, [t.state for t in trials]
    rerun = [t for t in complete if t.system_attrs.get("failed_trial") == failed[0].number]
    assert len(rerun) == 1, [(t.number, t.state, t.system_attrs) for t in trials]
    assert failed[0].params.items() <= rerun[0].params.items()
    assert sum(t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE for t in complete) == 1
    _, row = finished(backend.url, backend.job_id)
    assert row.state == "succeeded" and row.trials_claimed == N_TRIALS and row.retries == 0


@pytest.mark.parametrize("cut", ["sampled parameter", "configuration", "report", "progress"])
def test_a_trial_the_database_cuts_off_at_any_write_is_rerun(backend: Backend, cut: str,
                                                             monkeypatch) -> None:
    """Injects: the database lost for one write of a running trial (the sampled parameter and
    the configuration, written before the objective runs; the epoch's report to Optuna; the
    epoch's progress on the job row), back by the time Optuna fails the trial. Must hold: the
    trial is re-run by Optuna's retry callback and its claim returned, so exactly `n_trials`
    complete; it is never a plain FAIL spent from the budget."""
    if cut == "progress":
        drops_once(monkeypatch, JobRows, "write_progress", lost_connection(),
                   lambda _job_id, progress: progress.get("trial_number") == 1)
    else:
        name, key = {"sampled parameter": ("set_trial_param", None),
                     "configuration": ("set_trial_user_attr", CONFIG_ATTR),
                     "report": ("set_trial_intermediate_value", None)}[cut]
        if name == "set_trial_param" and backend.storage_url is None:
            name = "_set_trial_param"  # what Optuna's cache in front of the RDB storage calls
        drops_once(monkeypatch, backend.storage_class, name, backend.lost(), second_trial(key))
    worker_for(backend.url, backend.storage_url).run(once=True)
    assert_rerun_once(backend)


def test_a_cut_trial_is_rerun_when_the_database_stays_lost_past_optunas_tell(
        backend: Backend, monkeypatch) -> None:
    """Injects: the database lost for the second trial's report and for the worker's read of
    that trial right after (so it cannot be given back before Optuna fails it), back for
    Optuna's tell, and lost again for the first read of the failed trial. Must hold: the re-run
    is owed and made once the database answers, not left to a stale check that never comes (the
    trial is no longer RUNNING)."""
    cut: list[int] = []
    drops_once(monkeypatch, backend.storage_class, "set_trial_intermediate_value",
               backend.lost(), nth_trial(2, cut=cut))
    original = backend.storage_class.get_trial
    lost_reads: list[TrialState] = []

    def loses_the_cut_trial(self: object, trial_id: int) -> optuna.trial.FrozenTrial:
        trial = original(self, trial_id)
        if cut and trial_id == cut[0] and trial.state not in lost_reads:
            lost_reads.append(trial.state)  # once RUNNING, once FAIL
            raise backend.lost()
        return trial

    monkeypatch.setattr(backend.storage_class, "get_trial", loses_the_cut_trial)
    worker_for(backend.url, backend.storage_url).run(once=True)
    assert lost_reads == [TrialState.RUNNING, TrialState.FAIL]
    assert_rerun_once(backend)


@pytest.mark.parametrize("start", ["fresh", "enqueued"])
def test_a_trial_the_database_made_as_its_answer_was_lost_is_run_once(
        backend: Backend, start: str, monkeypatch) -> None:
    """Injects: the database (or the proxy) makes a trial RUNNING for a claim, then its answer
    is lost: a fresh trial (the second) or the enqueued advisor's trial (the first). Must hold:
    the worker does not give that claim back as if no trial existed, so the trial (failed by
    the stale check, which found it without beats) is re-run once, and exactly `n_trials`
    complete with one retry on the budget (before: the claim came back too, and the job got a
    trial more than its budget; with two workers one of them was stopped as the job finished).
    """
    if start == "fresh":
        name = "_create_new_trial" if backend.storage_url is None else "create_new_trial"
        wanted = 2
    else:
        name, wanted = "set_trial_state_values", 1
    original = getattr(backend.storage_class, name)
    calls = 0

    def answer_lost(self: object, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = original(self, *args, **kwargs)
        popping = name != "set_trial_state_values" or kwargs.get(
            "state", args[1] if len(args) > 1 else None) == TrialState.RUNNING
        if popping:
            calls += 1
            if calls == wanted:
                raise backend.lost()
        return result

    monkeypatch.setattr(backend.storage_class, name, answer_lost)
    worker = worker_for(backend.url, backend.storage_url)
    worker.run(once=True)
    _, row = finished(backend.url, backend.job_id)
    while row.state in ("queued", "running"):  # the orphan goes stale after the grace period
        time.sleep(0.2)
        worker.run(once=True)
        _, row = finished(backend.url, backend.job_id)
    trials = backend.trials()
    failed = [t for t in trials if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS and len(failed) == 1, [t.state for t in trials]
    assert [t.system_attrs.get("failed_trial") for t in complete].count(failed[0].number) == 1
    assert sum(t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE for t in complete) == 1
    assert row.state == "succeeded" and (row.trials_claimed, row.retries) == (N_TRIALS + 1, 1)


def test_a_trial_given_back_whose_failure_is_never_told_is_rerun_once(
        backend: Backend, monkeypatch) -> None:
    """Injects: the database lost for the second trial's report (the trial is given back:
    re-queued, its claim returned) and again for Optuna's tell of its failure, so it stays
    RUNNING until the heartbeat check fails it as stale. Must hold: Optuna's retry callback
    does not queue it a second time, nor the job count a retry for it: exactly `n_trials`."""
    cut: list[int] = []
    drops_once(monkeypatch, backend.storage_class, "set_trial_intermediate_value",
               backend.lost(), nth_trial(2, cut=cut))
    drops_once(monkeypatch, backend.storage_class, "set_trial_state_values", backend.lost(),
               lambda trial_id, state, *_a, **_k: state == TrialState.FAIL and trial_id in cut)
    worker_for(backend.url, backend.storage_url, heartbeat_s=1, grace_s=2).run(once=True)
    assert_rerun_once(backend)


def test_a_stale_trial_whose_rerun_is_cut_off_is_rerun_once_the_database_answers(
        backend: Backend, monkeypatch) -> None:
    """Injects: a RUNNING trial whose worker died before its first beat (older than the grace
    period), and the database lost while Optuna's retry callback queues its re-run. Must hold:
    the re-run is owed, not lost: exactly `n_trials` complete, one retry counted."""
    template = optuna.trial.create_trial(state=TrialState.RUNNING, params={"learning_rate": 0.5},
                                         distributions={"learning_rate": optuna.distributions
                                                        .FloatDistribution(1e-3, 1.0, log=True)})
    template.datetime_start = utcnow().replace(tzinfo=None) - timedelta(hours=1)
    study = backend.study()
    study._storage.create_new_trial(study._study_id, template_trial=template)
    engine = make_engine(backend.url)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.get(Job, backend.job_id)
        assert row is not None
        row.trials_claimed = 1  # the dead worker's claim
    engine.dispose()
    add = optuna.Study.add_trial
    adds = 0

    def drops_the_rerun(self: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal adds
        adds += 1
        if trial.system_attrs.get("failed_trial") is not None and adds <= 2:
            raise lost_connection()
        add(self, trial)

    monkeypatch.setattr(optuna.Study, "add_trial", drops_the_rerun)
    worker_for(backend.url, backend.storage_url).run(once=True)
    trials = backend.trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == N_TRIALS
    rerun = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(rerun) == 1 and rerun[0].params == {"learning_rate": 0.5}
    _, row = finished(backend.url, backend.job_id)
    assert row.state == "succeeded" and row.retries == 1


def another_worker_looks_when_failed(monkeypatch, backend: Backend,
                                     which: Callable[[int], bool],
                                     **finish: float) -> list[bool]:
    """The first time a trial `which` accepts is told FAIL, another worker asks
    `results.finish_if_done` whether the job is done; its answers, in a list."""
    other = JobRows(make_sessionmaker(make_engine(backend.url)), "another worker")
    original = backend.storage_class.set_trial_state_values
    looked: list[bool] = []

    def looks(self: object, trial_id: int, state: TrialState, values: object = None) -> bool:
        changed = original(self, trial_id, state, values)
        if state == TrialState.FAIL and which(trial_id) and not looked:
            looked.append(results.finish_if_done(other, backend.study(), backend.job_id,
                                                 **finish))
        return changed

    monkeypatch.setattr(backend.storage_class, "set_trial_state_values", looks)
    return looked


def test_a_job_whose_last_trial_the_database_cut_off_is_not_finished_before_its_rerun(
        backend: Backend, monkeypatch) -> None:
    """Injects: the database lost for the report of the job's last trial (its budget's last
    claim); the moment Optuna has failed that trial, another worker looks whether the job is
    done. Must hold: it is not (the re-run is already queued and the claim returned), so the
    job ends with exactly `n_trials` complete, not one short with its re-run left WAITING."""
    cut: list[int] = []
    drops_once(monkeypatch, backend.storage_class, "set_trial_intermediate_value",
               backend.lost(), nth_trial(N_TRIALS, cut=cut))
    looked = another_worker_looks_when_failed(
        monkeypatch, backend, lambda trial_id: bool(cut) and trial_id == cut[0])
    worker_for(backend.url, backend.storage_url).run(once=True)
    assert looked == [False]
    assert_rerun_once(backend)


def test_a_job_is_not_finished_while_a_stale_trials_rerun_is_being_queued(
        backend: Backend, monkeypatch) -> None:
    """Injects: the job's last claim held by a worker that died mid-trial (a RUNNING trial that
    never beat, started long ago), every other trial complete; the moment the heartbeat check
    has failed that trial, before Optuna's retry callback has queued its re-run, another worker
    looks whether the job is done. Must hold: it is not; the re-run runs and exactly `n_trials`
    trials complete, one retry counted."""
    distributions = {"learning_rate": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)}
    study = backend.study()
    for value in (0.1, 0.2, 0.3):
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.COMPLETE, value=value, params={"learning_rate": value},
            distributions=distributions))
    orphan = optuna.trial.create_trial(state=TrialState.RUNNING, params={"learning_rate": 0.5},
                                       distributions=distributions)
    orphan.datetime_start = utcnow().replace(tzinfo=None) - timedelta(hours=1)
    study._storage.create_new_trial(study._study_id, template_trial=orphan)
    engine = make_engine(backend.url)
    with session_scope(make_sessionmaker(engine)) as session:
        row = session.get(Job, backend.job_id)
        assert row is not None
        row.state, row.seeded, row.trials_claimed = "running", True, N_TRIALS
    engine.dispose()
    looked = another_worker_looks_when_failed(monkeypatch, backend, lambda _trial_id: True,
                                              grace_s=60)
    worker_for(backend.url, backend.storage_url).run(once=True)
    assert looked == [False]
    trials = backend.trials()
    assert [t.state for t in trials].count(TrialState.COMPLETE) == N_TRIALS
    rerun = [t for t in trials if t.system_attrs.get("failed_trial") == 3]
    assert len(rerun) == 1 and rerun[0].params == {"learning_rate": 0.5}
    _, row = finished(backend.url, backend.job_id)
    assert row.state == "succeeded" and row.retries == 1


def test_a_trial_a_second_signal_stops_is_rerun_by_optunas_retry(job) -> None:
    """Injects: SIGTERM twice during the second trial (`stopping`, `cancelled_by_signal`), which
    stops it at its epoch's progress write; a later worker finishes the job. Must hold: the
    trial is given back like one the database cut off (Optuna's retry callback re-queues it,
    its claim is returned)."""
    url, job_id = job
    worker = worker_for(url)
    calls = 0

    def signalled_in_the_second(ctx: objectives.TrialContext) -> float:
        nonlocal calls
        calls += 1
        if calls == 2:
            worker.stopping = worker.cancelled_by_signal = True
        return instant(ctx)

    objectives.registered_objectives()["test-instant"] = signalled_in_the_second  # see `job`
    worker.run(once=True)
    worker_for(url).run(once=True)
    assert_rerun_once(Backend(url, job_id, None, RDBStorage, lambda: optuna.load_study(
        study_name=study_name_for(job_id), storage=url)))
