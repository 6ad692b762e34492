"""The worker: find a job with budget left, run its trials through Optuna, finish the job.

Any number of workers on any number of hosts share one database. Coordination is Optuna's RDB
storage plus three atomic updates on our `jobs` row:

- `seeded`: the worker that flips it enqueues the advisor's configuration, so it is the first
  trial exactly once however many workers start together;
- `trials_claimed`: a worker runs a trial only after incrementing it below
  `n_trials + retries`, so the study gets exactly `n_trials` finished trials across all workers;
- `retries`: incremented when a trial whose worker died is failed by Optuna's heartbeat check;
  its parameters are re-queued (Optuna's retry callback) and one more trial is allowed.

Each claimed trial runs through `study.optimize(n_trials=1)`, so Optuna does the heartbeat,
the stale-trial check, the enqueued-trial pop, pruning and failure bookkeeping.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import grpc
import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RetryHeartbeatStaleTrialCallback, fail_stale_trials
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from worker import probe, results
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.objectives import CONFIG_ATTR, TrialContext, get_objective
from worker.proxy import HeartbeatGrpcStorage, is_grpc_url
from worker.search import (
    advisor_params,
    make_pruner,
    make_sampler,
    suggest,
    trial_config,
    tuned_dimensions,
)
from worker.settings import Settings
from worker.states import ACTIVE_STATES
from worker.store.db import make_engine, make_sessionmaker, redacted
from worker.store.models import Job, utcnow
from worker.studies import study_name_for
from worker.trial_storage import WorkerRDBStorage, make_worker_rdb_storage

log = logging.getLogger("hpadvisor.worker")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

MAX_RETRIES = 3
#: User attributes of a trial that went wrong outside its objective: the error, and how often
#: its parameters have been re-queued because of such errors.
ERROR_ATTR = "hpadvisor_error"
REQUEUES_ATTR = "hpadvisor_requeues"
ACTIVE = ACTIVE_STATES
#: A lost connection (the database restarted, the network dropped): the worker waits and goes
#: on, with a growing pause, `Settings.db_retries` times in a row at most; then it exits with
#: the error. Pre-ping on the pool reconnects; a trial cut by the loss is re-queued (see
#: `run_one_trial`), or, when its result could not be written, failed by the heartbeat check
#: and retried.
DB_ERRORS = (OperationalError, StorageInternalError, grpc.RpcError)


class JobStopped(Exception):
    """Raised inside a trial when its job was cancelled meanwhile: the trial is failed."""


class CountedRetry(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a stale trial, plus one more allowed trial on the job's budget."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(max_retry=MAX_RETRIES)
        self._sessions = sessions

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        super().__call__(study, trial)
        job_id = int(study.user_attrs.get("hpadvisor_job_id", -1))
        with self._sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(retries=Job.retries + 1))
        log.warning("job %s: trial %d's worker stopped beating; failed and re-queued",
                    job_id, trial.number, extra={"job_id": job_id, "trial": trial.number})


def make_worker_storage(url: str, on_stale: CountedRetry,
                        settings: Settings) -> HeartbeatGrpcStorage | WorkerRDBStorage:
    """Optuna's storage for a worker, with the heartbeat that re-runs a dead worker's trial
    (`settings.heartbeat_s`, `settings.grace_s`): the RDB storage on a database URL, or the
    gRPC proxy client on `grpc://host:port` (waited for `settings.proxy_wait_s`)."""
    if is_grpc_url(url):
        storage = HeartbeatGrpcStorage(url, heartbeat_interval=settings.heartbeat_s,
                                       grace_period=settings.grace_s,
                                       stale_trial_callback=on_stale)
        try:
            storage.wait_server_ready(timeout=settings.proxy_wait_s)
        except ConnectionError:
            raise ConnectionError(f"no Optuna storage proxy answers at {url} "
                                  f"(waited {settings.proxy_wait_s:.0f} s)") from None
        return storage
    return make_worker_rdb_storage(url, heartbeat_interval=settings.heartbeat_s,
                                   grace_period=settings.grace_s, on_stale=on_stale)


@dataclass
class WorkerOptions:
    device: str = "auto"
    threads: int | None = None
    poll_s: float = 1.0
    name: str = f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """One worker process on one database URL."""

    def __init__(self, url: str, options: WorkerOptions | None = None,
                 storage_url: str | None = None, settings: Settings | None = None) -> None:
        """`url`: the database of our job table (and of Optuna's, unless `storage_url` names
        Optuna's gRPC storage proxy, `grpc://host:port`, in front of it). `settings`: the
        heartbeat, grace, progress, retry and proxy-wait settings (default: the environment's,
        read now)."""
        self.url = url
        self.options = options or WorkerOptions()
        self.settings = settings if settings is not None else Settings.from_env()
        self.sessions = make_sessionmaker(make_engine(url))
        self.storage = make_worker_storage(storage_url or url, CountedRetry(self.sessions),
                                           self.settings)
        self.storage.on_trial_started = self.claim_became_trial
        #: The trial the running claim paid for, once the storage has made it RUNNING.
        self.current_trial_id: int | None = None
        #: Errors in a row per job that were neither the database's nor one trial's (a job
        #: that fails this way MAX_RETRIES times is failed with the error, not retried forever).
        self.job_errors: dict[int, int] = {}
        self.stopping = False
        #: Undos a lost database interrupted, made when it answers again: a claim whose trial
        #: never started is returned; a seed flag whose advisor trial was never enqueued is
        #: cleared. Otherwise the job would end a trial short, or without the advisor's trial.
        self.owed: list[Callable[[], None]] = []
        #: The undo of the write in progress, until its follow-up has happened (see
        #: `undone_if_database_lost`).
        self.pending_undo: Callable[[], None] | None = None
        #: Set by a second SIGTERM: stop the running trial at its next epoch too.
        self.cancelled_by_signal = False

    # --- the loop ----------------------------------------------------------------------------

    def run(self, once: bool = False) -> None:
        """Work until stopped; with `once`, until no job has work left."""
        log.info("worker %s on %s (device %s)", self.options.name, redacted(self.url),
                 self.options.device)
        failures = 0
        while not self.stopping:
            try:
                if not self.step(once):
                    return
            except Exception as error:
                failures += 1
                cause = database_error(error)
                if failures > self.settings.db_retries or cause is None:
                    raise
                pause = min(30.0, 0.5 * 2 ** (failures - 1))
                log.warning("database unavailable (%s); retrying in %.1f s (%d/%d)",
                            _first_line(cause), pause, failures, self.settings.db_retries,
                            extra={"retry": failures})
                time.sleep(pause)
            else:
                failures = 0

    def step(self, once: bool) -> bool:
        """One pass over the active jobs; False when `once` and no job has work left."""
        self.settle_owed()
        worked = False
        for job_id in self.active_job_ids():
            worked = self.work_on_guarded(job_id) or worked
        if not worked:
            if once and not self.active_job_ids():
                return False
            time.sleep(self.options.poll_s)
        return True

    def active_job_ids(self) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(Job.id).where(Job.state.in_(ACTIVE))
                                        .order_by(Job.id)))

    def work_on_guarded(self, job_id: int) -> bool:
        """`work_on`, where an error that is not the database's stops this job's turn (logged
        in one line), not the worker; after MAX_RETRIES in a row the job is failed with it."""
        try:
            ran = self.work_on(job_id)
        except Exception as error:
            if database_error(error) is not None:
                raise
            count = self.job_errors[job_id] = self.job_errors.get(job_id, 0) + 1
            reason = one_line(error)
            log.error("job %d: %s (%d/%d)", job_id, reason, count, MAX_RETRIES,
                      extra={"job_id": job_id})
            log.debug("job %d: details", job_id, exc_info=True)
            if count >= MAX_RETRIES:
                self.fail_job(job_id, f"worker error: {reason}")
            return False
        self.job_errors.pop(job_id, None)
        return ran

    def work_on(self, job_id: int) -> bool:
        """Run trials of one job while it has budget; finish it when all are done. Returns
        whether any trial ran."""
        study = optuna.load_study(study_name=study_name_for(job_id), storage=self.storage)
        fail_stale_trials(study)
        job = self.load(job_id)
        if job is None or job.state not in ACTIVE:
            return False
        if not self.seed_once(job, study) and self.seeding_elsewhere(job_id, study):
            return False  # the advisor's trial comes first: wait for its seeder's probe
        ran = False
        while not self.stopping and self.within_time(job):
            claimed = self.claim(job_id)
            if claimed is None:
                break
            ran = True
            with self.undone_if_database_lost(partial(self.return_claim, job_id)):
                state = self.run_one_trial(claimed, study)
            if state not in ACTIVE:
                break
            job = claimed
        if self.claims_settled(job_id, study):
            results.finish_if_done(self.sessions, study, job_id)
        return ran

    def claims_settled(self, job_id: int, study: optuna.Study) -> bool:
        """Whether every claim on a spent budget has become a trial in the study.

        A claim is taken before Optuna creates its trial. In between, the budget looks spent and
        no trial is running, so another worker would finish the job under the claimer, whose
        trial then fails with "job succeeded" (seen with four workers on instant trials). Every
        claim becomes exactly one trial that is no longer WAITING, so the job may end only when
        there are at least as many of those as claims - or when no worker has written to the job
        for the grace period (a claimer that died before its trial existed).
        """
        job = self.load(job_id)
        if job is None or job.state not in ACTIVE:
            return True
        if job.trials_claimed < job.n_trials + job.retries and self.within_time(job):
            return True  # not finishing now in any case; nothing to read
        # Counted here, before finish_if_done looks for running trials: a trial seen here
        # cannot vanish, so if all claims are trials now, finish_if_done waits for all of them.
        started = sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
        if started >= job.trials_claimed:
            return True
        quiet = (job.heartbeat_at is None or
                 (datetime.now(UTC) - job.heartbeat_at).total_seconds() > self.settings.grace_s)
        if quiet:
            log.warning("job %d: %d claims never became trials; finishing without them",
                        job_id, job.trials_claimed - started, extra={"job_id": job_id})
        return quiet

    # --- atomic steps on the job row ---------------------------------------------------------

    def load(self, job_id: int) -> Job | None:
        with self.sessions() as session:
            return session.get(Job, job_id)

    def seeding_elsewhere(self, job_id: int, study: optuna.Study) -> bool:
        """Whether another worker won the seed flag and is still probing before it enqueues
        the advisor's trial. Claiming meanwhile would make a sampled trial come first, and on
        a small budget could spend it all, leaving the advisor's trial waiting forever. A
        seeder silent for the grace period is taken for dead and no longer waited for."""
        job = self.load(job_id)
        if job is None or not job.seeded or job.trials_claimed > 0:
            return False
        if any(t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE
               for t in study.get_trials(deepcopy=False)):
            return False
        since = job.heartbeat_at
        if since is None or (datetime.now(UTC) - since).total_seconds() > self.settings.grace_s:
            log.warning("job %d: its seeder has been silent for over %d s; going on without "
                        "waiting for the advisor's trial", job_id, self.settings.grace_s,
                        extra={"job_id": job_id})
            return False
        return True

    def seed_once(self, job: Job, study: optuna.Study) -> bool:
        """Enqueue the advisor's configuration (after the probe) if this worker wins the seed
        flag; whether it did."""
        with self.sessions.begin() as session:
            won = session.execute(update(Job).where(Job.id == job.id, Job.seeded.is_(False))
                                  .values(seeded=True, heartbeat_at=utcnow())).rowcount == 1
        if won:
            dims = tuned_dimensions(job.search_space, job.tune)
            with self.undone_if_database_lost(partial(self.unseed, job.id)):
                dims = probe.probe_job(self.sessions, job, study, dims,
                                       device=self.options.device, threads=self.options.threads)
                study.enqueue_trial(advisor_params(dims),
                                    user_attrs={ADVISOR_TRIAL_ATTR: ADVISOR_TRIAL_ROLE},
                                    skip_if_exists=True)  # so a second seeding is harmless
            log.info("job %d: enqueued the advisor's configuration as the first trial", job.id,
                     extra={"job_id": job.id})
        return won

    def claim(self, job_id: int) -> Job | None:
        """Take one trial of the job's budget, atomically across all workers; the job as it
        stands after the claim, or None when no budget is left."""
        with self.sessions.begin() as session:
            return session.scalars(
                update(Job)
                .where(Job.id == job_id, Job.state.in_(ACTIVE),
                       Job.trials_claimed < Job.n_trials + Job.retries)
                .values(trials_claimed=Job.trials_claimed + 1, state="running",
                        started_at=_coalesce_now(), worker=self.options.name,
                        heartbeat_at=utcnow())
                .returning(Job)
            ).one_or_none()

    @contextmanager
    def undone_if_database_lost(self, undo: Callable[[], None]) -> Iterator[None]:
        """Run the block after a write that `undo` reverts. If a lost database cuts the block
        off while the undo is still pending (a trial clears it once it exists: from then on
        its own failure handling applies), owe the undo until the database answers."""
        self.pending_undo = undo
        try:
            yield
        except Exception as error:
            if self.pending_undo is not None and database_error(error) is not None:
                self.owed.append(self.pending_undo)
            raise
        finally:
            self.pending_undo = None

    def settle_owed(self) -> None:
        """Make the undos a lost database interrupted (see `owed`); raises while it is down."""
        while self.owed:
            self.owed[0]()
            self.owed.pop(0)

    def claim_became_trial(self, trial_id: int) -> None:
        """Called by the storage once the trial the claim paid for is RUNNING: from then on the
        trial's own failure handling (and the stale check) accounts for the claim."""
        self.pending_undo = None
        self.current_trial_id = trial_id

    def fail_job(self, job_id: int, reason: str) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.state.in_(ACTIVE))
                            .values(state="failed", finished_at=utcnow(), error=reason))
        log.error("job %d failed: %s", job_id, reason, extra={"job_id": job_id})

    def return_claim(self, job_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(trials_claimed=Job.trials_claimed - 1))

    def unseed(self, job_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Job).where(Job.id == job_id).values(seeded=False))
        log.info("job %d: seeding cut off by the lost database; it will be redone", job_id,
                 extra={"job_id": job_id})

    def give_back(self, job_id: int, study: optuna.Study, trial: FrozenTrial,
                  why: str = "stopped by a signal") -> None:
        """A trial stopped by a signal or a lost database: re-queue its parameters and return
        its claim. A step the lost database cuts off is owed until it answers (the trial is
        already failed, so nothing else would re-run it)."""
        steps: list[Callable[[], None]] = [
            partial(study.enqueue_trial, trial.params, user_attrs=dict(trial.user_attrs)),
            partial(self.return_claim, job_id)]
        for done, step in enumerate(steps):
            try:
                step()
            except Exception as error:
                if database_error(error) is not None:
                    self.owed.extend(steps[done:])
                raise
        log.info("job %d: trial %d %s; its parameters are re-queued", job_id, trial.number,
                 why, extra={"job_id": job_id, "trial": trial.number})

    def within_time(self, job: Job) -> bool:
        if job.timeout_s is None or job.started_at is None:
            return True
        return (datetime.now(UTC) - job.started_at).total_seconds() < job.timeout_s

    def write_progress(self, job_id: int, progress: dict[str, Any]) -> str:
        """Store the progress line and return the job's state (to notice cancellation)."""
        with self.sessions.begin() as session:
            state = session.scalar(update(Job).where(Job.id == job_id)
                                   .values(progress=progress, heartbeat_at=utcnow(),
                                           worker=self.options.name)
                                   .returning(Job.state))
        return str(state)

    # --- one trial ---------------------------------------------------------------------------

    def run_one_trial(self, job: Job, study: optuna.Study) -> str:
        """Run the trial `job`'s claim paid for; return the job's state afterwards."""
        advised = dict(job.recommendation["hyperparameters"])
        epochs = int(advised.get("epochs", 1))
        dims = tuned_dimensions(job.search_space, job.tune)
        objective_fn = get_objective(job.objective)
        seed = (job.seed or 0) + job.trials_claimed
        study.sampler = make_sampler(job.sampler, job.seed if job.sampler == "qmc" else seed)
        study.pruner = make_pruner(job.pruner, epochs, job.n_trials)
        best = _best_value(study)
        progress: dict[str, Any] = {"trial": job.trials_claimed, "n_trials": job.n_trials,
                                    "best_value": best}
        state = job.state
        last_write = 0.0
        lost_database = False

        def objective(trial: optuna.Trial) -> float:
            config = trial_config(advised, suggest(trial, dims))
            trial.set_user_attr(CONFIG_ATTR, config)

            def on_epoch(epoch: int, total: int, value: float) -> None:
                nonlocal state, last_write
                progress.update(trial_number=trial.number, epoch=epoch, epochs=total,
                                value=value)
                log.info("job %d trial %d/%d epoch %d/%d: val %.4f (best so far %s)", job.id,
                         job.trials_claimed, job.n_trials, epoch, total, value,
                         "-" if best is None else f"{best:.4f}",
                         extra={"job_id": job.id, "trial": trial.number, "epoch": epoch,
                                "value": value})
                # Epoch progress at most every `progress_s` (the last epoch always): fast
                # trials would otherwise spend more on bookkeeping than on training.
                if time.monotonic() - last_write < self.settings.progress_s and epoch < total:
                    return
                last_write = time.monotonic()
                state = self.write_progress(job.id, progress)
                if state not in ACTIVE or self.cancelled_by_signal:
                    raise JobStopped(f"job {job.id} is {state}; trial stopped")

            ctx = TrialContext(trial=trial, config=config, dataset=job.dataset,
                               model=job.model_name, device=self.options.device, seed=seed,
                               threads=self.options.threads, on_epoch=on_epoch,
                               pretrained=bool((job.request.get("training") or {})
                                               .get("pretrained", False)))
            try:
                return objective_fn(ctx)
            except DB_ERRORS:
                nonlocal lost_database
                lost_database = True
                raise

        finished: list[FrozenTrial] = []
        self.current_trial_id = None
        try:
            study.optimize(objective, n_trials=1, catch=(Exception,),
                           callbacks=[lambda _study, trial: finished.append(trial)])
        except Exception as error:
            if database_error(error) is not None:
                raise  # the run loop waits for it; the heartbeat or an owed undo settles the trial
            self.trial_went_wrong(job.id, study, error)
            return self.write_progress_quietly(job.id, progress, state)
        if finished and finished[0].state == TrialState.FAIL:
            if lost_database:
                self.give_back(job.id, study, finished[0], "lost the database mid-trial")
            elif self.cancelled_by_signal:
                self.give_back(job.id, study, finished[0])
        for trial in finished:
            if trial.state == TrialState.COMPLETE and trial.value is not None:
                best = trial.value if best is None else max(best, trial.value)
            log.info("job %d: trial %d %s (value %s); best so far %s", job.id, trial.number,
                     trial.state.name.lower(), trial.value, best,
                     extra={"job_id": job.id, "trial": trial.number,
                            "state": trial.state.name.lower(), "value": trial.value})
            progress.update(best_value=best, last_trial=trial.number,
                            last_state=trial.state.name.lower())
            state = self.write_progress_quietly(job.id, progress, state)
        return state

    def write_progress_quietly(self, job_id: int, progress: dict[str, Any], state: str) -> str:
        """`write_progress` after a trial: an error other than the database's is logged and
        the job's last known state kept (a progress line is not worth a worker)."""
        try:
            return self.write_progress(job_id, progress)
        except Exception as error:
            if database_error(error) is not None:
                raise
            log.warning("job %d: progress not written: %s", job_id, one_line(error),
                        extra={"job_id": job_id})
            return state

    def trial_went_wrong(self, job_id: int, study: optuna.Study, error: Exception) -> None:
        """Something other than the objective (asking, telling, a callback) failed around one
        trial. The trial is failed with the reason in its attributes and, up to MAX_RETRIES
        times for the same parameters, re-queued with its claim returned; a claim that never
        became a trial is returned. Errors here are logged, never raised (but the database's)."""
        # When telling fails, Optuna's clean-up meets an unexpected state and raises an
        # AssertionError over the real error: report the one underneath.
        while isinstance(error, AssertionError) and isinstance(error.__context__, Exception):
            error = error.__context__
        reason = one_line(error)
        trial_id = self.current_trial_id
        try:
            if trial_id is None:
                log.error("job %d: no trial started: %s; its claim is returned", job_id, reason,
                          extra={"job_id": job_id})
                self.return_claim(job_id)
                return
            storage = study._storage
            trial = storage.get_trial(trial_id)
            log.error("job %d: trial %d went wrong outside its objective: %s", job_id,
                      trial.number, reason, extra={"job_id": job_id, "trial": trial.number})
            if trial.state != TrialState.RUNNING:
                return  # told before the error (a callback failed): the claim is spent on it
            storage.set_trial_system_attr(trial_id, "fail_reason", f"worker error: {reason}")
            storage.set_trial_user_attr(trial_id, ERROR_ATTR, reason)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
            requeues = int(trial.user_attrs.get(REQUEUES_ATTR, 0))
            if requeues < MAX_RETRIES:
                attrs = {**trial.user_attrs, REQUEUES_ATTR: requeues + 1}
                attrs.pop(ERROR_ATTR, None)
                study.enqueue_trial(trial.params, user_attrs=attrs)
                self.return_claim(job_id)
                log.info("job %d: trial %d's parameters are re-queued (%d/%d)", job_id,
                         trial.number, requeues + 1, MAX_RETRIES,
                         extra={"job_id": job_id, "trial": trial.number})
        except Exception as second:
            if database_error(second) is not None:
                raise
            log.error("job %d: could not settle the trial: %s; the stale-trial check will",
                      job_id, one_line(second), extra={"job_id": job_id})


def _coalesce_now() -> Any:
    return func.coalesce(Job.started_at, utcnow())


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:  # no complete trial yet
        return None


def database_error(error: BaseException) -> BaseException | None:
    """The database error behind `error`, possibly as the cause of another (Optuna's `tell`
    can fail with an UnboundLocalError while handling a lost connection), or None."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, DB_ERRORS):
            return current
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
    return None


def one_line(error: BaseException) -> str:
    """`error` as its type and the first line of its message."""
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
