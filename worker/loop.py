"""The worker process: find a job with budget left, seed it, claim and run its trials, finish it.

Any number of workers on any number of hosts share one database. Coordination is Optuna's RDB
storage plus three atomic updates on our `jobs` row (`worker.job_rows.JobRows`):

- `seeded`: the worker that flips it enqueues the advisor's configuration, so it is the first
  trial exactly once however many workers start together;
- `trials_claimed`: a worker runs a trial only after incrementing it below
  `n_trials + retries`, so the study gets exactly `n_trials` finished trials across all workers;
- `retries`: incremented when a trial whose worker died is failed by Optuna's heartbeat check;
  its parameters are re-queued (Optuna's retry callback) and one more trial is allowed.

Each claimed trial runs through Optuna in `worker.trial_run.TrialRun`; what a worker does with
each kind of failure is in docs/worker.md.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import optuna
from optuna.storages import fail_stale_trials
from optuna.trial import TrialState

from worker import local_offer, probe, results
from worker.checkpoints import open_artifact_store
from worker.failures import MAX_RETRIES, database_error, first_line, one_line
from worker.job_rows import JobRows
from worker.jobs import ADVISOR_TRIAL_ATTR, ADVISOR_TRIAL_ROLE
from worker.offers import Offer, OfferHeartbeat
from worker.proxy import HeartbeatGrpcStorage, is_grpc_url
from worker.search import advisor_params, tuned_dimensions
from worker.settings import Settings
from worker.states import ACTIVE_STATES
from worker.store.db import make_engine, make_sessionmaker, redacted
from worker.store.models import Job
from worker.studies import study_name_for
from worker.trial_run import CountedRetry, TrialRun
from worker.trial_storage import CLAIM_ATTR, WorkerRDBStorage, make_worker_rdb_storage

log = logging.getLogger("hpadvisor.worker")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


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


def became_trial(trials: list[optuna.trial.FrozenTrial], cut: tuple[str, Any]) -> bool:
    """Whether a trial start cut off by a lost database happened all the same: a fresh trial
    carrying the claim's token, or the enqueued trial being popped now out of WAITING with its
    user attributes as they were (a worker that popped it writes its name and the
    configuration as soon as it has it; a re-run's copy carries its first worker's)."""
    kind, what = cut
    if kind == "claim":
        return any(t.system_attrs.get(CLAIM_ATTR) == what for t in trials)
    trial_id, before = what
    popped = next((t for t in trials if t._trial_id == trial_id), None)
    return (popped is not None and popped.state != TrialState.WAITING
            and popped.user_attrs == before)


@dataclass
class WorkerOptions:
    device: str = "auto"
    threads: int | None = None
    poll_s: float = 1.0
    name: str = f"{socket.gethostname()}:{os.getpid()}"
    #: Its slot in a pool (`hpadvisor worker --gpus`/`--slots`), e.g. gpu1; None alone.
    slot: str | None = None


class Worker:
    """One worker process on one database URL."""

    def __init__(self, url: str, options: WorkerOptions | None = None,
                 storage_url: str | None = None, settings: Settings | None = None,
                 offer: Offer | None = None) -> None:
        """`url`: the database of our job table (and of Optuna's, unless `storage_url` names
        Optuna's gRPC storage proxy, `grpc://host:port`, in front of it). `settings`: the
        heartbeat, grace, progress, retry, proxy-wait, probe and cache settings (default: the
        environment's, read now). `offer`: what this worker runs (default: what this process
        has registered when it first looks for work); it claims only jobs the offer covers."""
        self.url = url
        self.options = options or WorkerOptions()
        self.settings = settings if settings is not None else Settings.from_env()
        self._offer = offer
        #: Optuna's artifact store: trial checkpoints and each job's best model.
        self.artifacts = open_artifact_store(self.settings.artifacts)
        self.rows = JobRows(make_sessionmaker(make_engine(url)), self.options.name)
        self.storage = make_worker_storage(storage_url or url, CountedRetry(self.rows),
                                           self.settings)
        self.storage.on_trial_started = self.claim_became_trial
        self.trials = TrialRun(self.rows, device=self.options.device,
                               threads=self.options.threads,
                               progress_s=self.settings.progress_s,
                               cache_dir=self.settings.cache_dir,
                               memory_budget=self.settings.memory_budget,
                               stopped_by_signal=lambda: self.cancelled_by_signal,
                               artifacts=self.artifacts,
                               checkpoint_s=self.settings.checkpoint_s,
                               slot=self.options.slot)
        #: Errors in a row per job that were neither the database's nor one trial's (a job
        #: that fails this way MAX_RETRIES times is failed with the error, not retried forever).
        self.job_errors: dict[int, int] = {}
        self.stopping = False
        #: Set by a second SIGTERM: stop the running trial at its next epoch too.
        self.cancelled_by_signal = False

    @property
    def offer(self) -> Offer:
        if self._offer is None:
            self._offer = local_offer.this_process(self.options.device)
        return self._offer

    # --- the loop ----------------------------------------------------------------------------

    def run(self, once: bool = False) -> None:
        """Work until stopped; with `once`, until no job it can run has work left. Its offer
        is recorded and kept alive meanwhile, and withdrawn when it returns."""
        log.info("worker %s on %s (device %s%s)", self.options.name, redacted(self.url),
                 self.options.device, f", slot {self.options.slot}" if self.options.slot else "")
        heartbeat = OfferHeartbeat(self.rows.sessions, self.options.name, self.offer,
                                   interval_s=self.settings.heartbeat_s,
                                   grace_s=self.settings.grace_s)
        heartbeat.start()
        try:
            self.work(once)
        finally:
            heartbeat.stop()

    def work(self, once: bool) -> None:
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
                            first_line(cause), pause, failures, self.settings.db_retries,
                            extra={"retry": failures})
                time.sleep(pause)
            else:
                failures = 0

    def step(self, once: bool) -> bool:
        """One pass over the active jobs this worker can run; False when `once` and none has
        work left."""
        self.rows.settle_owed()
        worked = False
        for job_id in self.rows.active_ids(self.offer):
            worked = self.work_on_guarded(job_id) or worked
        if not worked:
            if once and not self.rows.active_ids(self.offer):
                return False
            time.sleep(self.options.poll_s)
        return True

    def work_on_guarded(self, job_id: int) -> bool:
        """`work_on`, where an error that is not the database's stops this job's turn (logged
        in one line), not the worker; after MAX_RETRIES in a row the job is failed with it."""
        from worker.trainer.folder_cache import decode_listener  # torch: worker processes only

        try:
            with decode_listener(partial(self.decoding, job_id)):
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
                self.rows.fail(job_id, f"worker error: {reason}")
                log.error("job %d failed: worker error: %s", job_id, reason,
                          extra={"job_id": job_id})
            return False
        self.job_errors.pop(job_id, None)
        return ran

    def decoding(self, job_id: int, done: int, total: int, rate: float) -> None:
        """A first decode of the job's image folder goes on (before its probe or a trial can
        train): say so in the job's progress (`decoding`), keeping what it held; a progress
        write the database refuses is only logged (the decode goes on)."""
        try:
            job = self.rows.load(job_id)
            progress = dict((job.progress if job is not None else None) or {})
            progress["decoding"] = {"done": done, "total": total, "images_per_s": round(rate)}
            if done >= total:
                progress.pop("decoding")
            self.rows.write_progress(job_id, progress)
        except Exception as error:
            log.warning("job %d: could not write the decode's progress: %s", job_id,
                        first_line(error), extra={"job_id": job_id})

    def work_on(self, job_id: int) -> bool:
        """Run trials of one job while it has budget; finish it when all are done. Returns
        whether any trial ran."""
        study = optuna.load_study(study_name=study_name_for(job_id), storage=self.storage)
        fail_stale_trials(study)
        job = self.rows.load(job_id)
        if job is None or job.state not in ACTIVE_STATES:
            return False
        if not self.seed_once(job, study) and self.seeding_elsewhere(job_id, study):
            return False  # the advisor's trial comes first: wait for its seeder's probe
        ran = False
        while not self.stopping and self.within_time(job):
            claimed = self.rows.claim(job_id)
            if claimed is None:
                break
            ran = True
            self.storage.claim(f"{self.options.name}/{job_id}/{uuid.uuid4().hex[:12]}")
            with self.rows.undone_if_database_lost(partial(self.settle_cut_claim, job_id,
                                                           study)):
                state = self.run_one_trial(claimed, study)
            if state not in ACTIVE_STATES:
                break
            job = claimed
        if self.claims_settled(job_id, study):
            results.finish_if_done(self.rows, study, job_id, self.artifacts,
                                   grace_s=self.settings.grace_s)
        return ran

    def run_one_trial(self, job: Job, study: optuna.Study) -> str:
        """Run the trial `job`'s claim paid for (`TrialRun.run`); the job's state afterwards."""
        return self.trials.run(job, study)

    def claim_became_trial(self, trial_id: int) -> None:
        """Called by the storage once the trial the claim paid for is RUNNING: from then on the
        trial's own failure handling (and the stale check) accounts for the claim."""
        self.rows.trial_started()
        self.trials.current_trial_id = trial_id

    def settle_cut_claim(self, job_id: int, study: optuna.Study) -> None:
        """The undo of a claim whose trial's start a lost database cut off: the claim is given
        back, unless the database had made the trial after all and only its answer was lost
        (`worker.trial_storage`): then the claim belongs to that trial, which the stale check
        fails and re-runs like a dead worker's. Raises while the database is still lost (and
        stays owed)."""
        cut = self.storage.cut_start
        if cut is not None and became_trial(study.get_trials(deepcopy=False), cut):
            log.warning("job %d: the trial this worker was starting when the database was lost "
                        "exists after all; the stale check re-runs it", job_id,
                        extra={"job_id": job_id})
        else:
            self.rows.return_claim(job_id)
        self.storage.cut_start = None

    def claims_settled(self, job_id: int, study: optuna.Study) -> bool:
        """Whether every claim on a spent budget has become a trial in the study.

        A claim is taken before Optuna creates its trial. In between, the budget looks spent and
        no trial is running, so another worker would finish the job under the claimer, whose
        trial then fails with "job succeeded" (seen with four workers on instant trials). Every
        claim becomes exactly one trial that is no longer WAITING, so the job may end only when
        there are at least as many of those as claims - or when no worker has written to the job
        for the grace period (a claimer that died before its trial existed).
        """
        job = self.rows.load(job_id)
        if job is None or job.state not in ACTIVE_STATES:
            return True
        if job.trials_claimed < job.n_trials + job.retries and self.within_time(job):
            return True  # not finishing now in any case; nothing to read
        # Counted here, before finish_if_done looks for running trials: a trial seen here
        # cannot vanish, so if all claims are trials now, finish_if_done waits for all of them.
        started = sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
        if started >= job.trials_claimed:
            return True
        quiet = self.silent_for_grace(job)
        if quiet:
            log.warning("job %d: %d claims never became trials; finishing without them",
                        job_id, job.trials_claimed - started, extra={"job_id": job_id})
        return quiet

    # --- seeding -----------------------------------------------------------------------------

    def seeding_elsewhere(self, job_id: int, study: optuna.Study) -> bool:
        """Whether another worker won the seed flag and is still probing before it enqueues
        the advisor's trial. Claiming meanwhile would make a sampled trial come first, and on
        a small budget could spend it all, leaving the advisor's trial waiting forever. A
        seeder silent for the grace period is taken for dead and no longer waited for."""
        job = self.rows.load(job_id)
        if job is None or not job.seeded or job.trials_claimed > 0:
            return False
        if any(t.user_attrs.get(ADVISOR_TRIAL_ATTR) == ADVISOR_TRIAL_ROLE
               for t in study.get_trials(deepcopy=False)):
            return False
        if self.silent_for_grace(job):
            log.warning("job %d: its seeder has been silent for over %d s; going on without "
                        "waiting for the advisor's trial", job_id, self.settings.grace_s,
                        extra={"job_id": job_id})
            return False
        return True

    def seed_once(self, job: Job, study: optuna.Study) -> bool:
        """Enqueue the advisor's configuration (after the probe) if this worker wins the seed
        flag; whether it did."""
        won = self.rows.win_seed(job.id)
        if won:
            dims = tuned_dimensions(job.search_space, job.tune)
            with self.rows.undone_if_database_lost(partial(self.unseed, job.id)):
                dims = probe.probe_job(self.rows, job, study, dims, enabled=self.settings.probe,
                                       device=self.options.device, threads=self.options.threads,
                                       cache_dir=self.settings.cache_dir,
                                       memory_budget=self.settings.memory_budget)
                study.enqueue_trial(advisor_params(dims),
                                    user_attrs={ADVISOR_TRIAL_ATTR: ADVISOR_TRIAL_ROLE},
                                    skip_if_exists=True)  # so a second seeding is harmless
            log.info("job %d: enqueued the advisor's configuration as the first trial", job.id,
                     extra={"job_id": job.id})
        return won

    def unseed(self, job_id: int) -> None:
        self.rows.unseed(job_id)
        log.info("job %d: seeding cut off by the lost database; it will be redone", job_id,
                 extra={"job_id": job_id})

    # --- time --------------------------------------------------------------------------------

    def within_time(self, job: Job) -> bool:
        if job.timeout_s is None or job.started_at is None:
            return True
        return (datetime.now(UTC) - job.started_at).total_seconds() < job.timeout_s

    def silent_for_grace(self, job: Job) -> bool:
        """Whether no worker has written to the job's row for the grace period."""
        since = job.heartbeat_at
        return since is None or (datetime.now(UTC) - since).total_seconds() > self.settings.grace_s
