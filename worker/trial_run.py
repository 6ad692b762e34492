"""One claimed trial through Optuna: sampler and pruner, the objective with epoch progress, and
what happens when the trial goes wrong.

The trial runs as `study.optimize(n_trials=1)`, so Optuna does the heartbeat, the stale-trial
check, the enqueued-trial pop, pruning and failure bookkeeping. What is ours:

- the trial's configuration: the advisor's values with the sampled ones in (`worker.search`);
- epoch progress on the job row, at most every `Settings.progress_s`, which is also where a
  cancelled job stops its trial (`JobStopped`);
- a trial whose objective a signal or a lost database cut off (at any write in it, Optuna's or
  ours) is *given back*: Optuna's retry callback re-queues it, as for a trial whose worker
  died, and its claim is returned, before Optuna fails it (`give_back_now`), or after if the
  database is still lost then (`give_back`);
- an error outside the objective (asking, telling, a callback) fails the trial with the reason
  and re-queues its parameters, at most `MAX_RETRIES` times (`went_wrong`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from worker.checkpoints import ArtifactStore
from worker.failures import MAX_RETRIES, database_error, one_line
from worker.job_rows import JobRows
from worker.objectives import CONFIG_ATTR, SLOT_ATTR, WORKER_ATTR, TrialContext, get_objective
from worker.search import (
    make_pruner,
    make_sampler,
    searched_box,
    suggest,
    trial_config,
    trial_seeds,
    tuned_dimensions,
)
from worker.states import ACTIVE_STATES
from worker.store.models import Job

log = logging.getLogger("hpadvisor.worker")

#: User attributes of a trial that went wrong outside its objective: the error, and how often
#: its parameters have been re-queued because of such errors.
ERROR_ATTR = "hpadvisor_error"
REQUEUES_ATTR = "hpadvisor_requeues"
#: System attribute of a trial its worker gave back (re-queued, claim returned) before Optuna
#: could fail it: the heartbeat check that fails it later must not re-run it a second time.
GIVEN_BACK_ATTR = "hpadvisor:given_back"


class JobStopped(Exception):
    """Raised inside a trial when its job was cancelled meanwhile: the trial is failed."""


class CountedRetry(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a stale trial, plus one more allowed trial on the job's budget.

    Optuna has failed the trial before it calls this, so a step the lost database cuts off here
    is owed (nothing else would re-run the trial). A trial its worker gave back before its
    failure could be told (`TrialRun.give_back_now`, `GIVEN_BACK_ATTR`) is already re-queued:
    not a second time. (Read from the trial Optuna hands over: no query between Optuna's
    failing the trial and the re-run's queueing, while which another worker could see the job
    with its budget spent and nothing left to run, and finish it.)"""

    def __init__(self, rows: JobRows) -> None:
        super().__init__(max_retry=MAX_RETRIES)
        self._rows = rows

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        job_id = int(study.user_attrs.get("hpadvisor_job_id", -1))
        self._rows.run_or_owe([partial(self._rerun, study, trial, job_id)])

    def _rerun(self, study: optuna.Study, trial: FrozenTrial, job_id: int) -> None:
        extra = {"job_id": job_id, "trial": trial.number}
        if trial.system_attrs.get(GIVEN_BACK_ATTR):
            log.warning("job %s: trial %d's worker stopped beating; it was re-queued already",
                        job_id, trial.number, extra=extra)
            return
        super().__call__(study, copy.deepcopy(trial))  # the callback appends to its history
        self._rows.run_or_owe([partial(self._rows.count_retry, job_id)])
        log.warning("job %s: trial %d's worker stopped beating; failed and re-queued",
                    job_id, trial.number, extra=extra)


class TrialRun:
    """Runs the trials a worker claims; one instance per worker.

    `stopped_by_signal` says whether a second SIGTERM asked to stop the running trial too.
    """

    def __init__(self, rows: JobRows, *, device: str, threads: int | None, progress_s: float,
                 cache_dir: Path | None = None, memory_budget: int | None = None,
                 stopped_by_signal: Callable[[], bool] = lambda: False,
                 artifacts: ArtifactStore | None = None, checkpoint_s: float = 300.0,
                 slot: str | None = None) -> None:
        self.rows = rows
        self.device = device
        self.threads = threads
        self.progress_s = progress_s
        self.cache_dir = cache_dir
        self.memory_budget = memory_budget
        self.stopped_by_signal = stopped_by_signal
        #: Optuna's artifact store for checkpoints and the best model, and seconds of training
        #: between checkpoints (`Settings.artifacts`, `Settings.checkpoint_s`).
        self.artifacts = artifacts
        self.checkpoint_s = checkpoint_s
        #: The worker's slot in a pool (gpu1, slot0), recorded on each trial and in progress.
        self.slot = slot
        #: The trial the running claim paid for, once the storage has made it RUNNING.
        self.current_trial_id: int | None = None
        #: Optuna's re-run of a failed trial, for trials a signal or a lost database cut off.
        self.retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)

    def run(self, job: Job, study: optuna.Study) -> str:
        """Run the trial `job`'s claim paid for; return the job's state afterwards."""
        advised = dict(job.recommendation["hyperparameters"])
        epochs = int(advised.get("epochs", 1))
        dims = tuned_dimensions(job.search_space, job.tune)
        objective_fn = get_objective(job.objective)
        seeds = trial_seeds(job.seed or 0, job.trials_claimed)
        # (QMC's sequence is one per job: each trial takes its next point)
        study.sampler = make_sampler(job.sampler,
                                     job.seed if job.sampler == "qmc" else seeds.sampler, dims)
        box = searched_box(job.sampler, dims)
        study.pruner = make_pruner(job.pruner, epochs, job.n_trials)
        best = _best_value(study)
        progress: dict[str, Any] = {"trial": job.trials_claimed, "n_trials": job.n_trials,
                                    "best_value": best}
        if self.slot is not None:
            progress["slot"] = self.slot
        state = job.state
        last_write = 0.0
        #: The trial the objective ran; why it is to be given back (a lost database or a
        #: signal cut its objective off), and whether it was, before Optuna failed it.
        trial_id: int | None = None
        cut_off: str | None = None
        given_back = False
        pretrained = job.pretrained

        def on_epoch(trial: optuna.Trial, epoch: int, total: int, value: float) -> None:
            nonlocal state, last_write
            progress.update(trial_number=trial.number, epoch=epoch, epochs=total, value=value)
            log.info("job %d trial %d/%d epoch %d/%d: val %.4f (best so far %s)", job.id,
                     job.trials_claimed, job.n_trials, epoch, total, value,
                     "-" if best is None else f"{best:.4f}",
                     extra={"job_id": job.id, "trial": trial.number, "epoch": epoch,
                            "value": value})
            # Epoch progress at most every `progress_s` (the last epoch always): fast trials
            # would otherwise spend more on bookkeeping than on training.
            if time.monotonic() - last_write < self.progress_s and epoch < total:
                return
            last_write = time.monotonic()
            state = self.rows.write_progress(job.id, progress)
            if state not in ACTIVE_STATES or self.stopped_by_signal():
                raise JobStopped(f"job {job.id} is {state}; trial stopped")

        def objective(trial: optuna.Trial) -> float:
            nonlocal trial_id, cut_off, given_back
            trial_id = trial._trial_id
            # Everything in here, Optuna's writes (the sampled parameters, the attributes, the
            # reports) as much as ours, fails the trial when it raises: a lost database
            # anywhere in it must be seen, or the trial ends a plain FAIL spent from the budget.
            # It is given back before Optuna fails it, so that no worker ever sees it failed
            # with its re-run not yet queued (and finishes the job one trial short).
            try:
                config = trial_config(advised, suggest(trial, box))
                trial.set_user_attr(CONFIG_ATTR, config)
                trial.set_user_attr(WORKER_ATTR, self.rows.worker_name)
                if self.slot is not None:
                    trial.set_user_attr(SLOT_ATTR, self.slot)
                ctx = TrialContext(trial=trial, config=config, dataset=job.dataset,
                                   model=job.model_name, device=self.device,
                                   seed=seeds.training,
                                   threads=self.threads, on_epoch=partial(on_epoch, trial),
                                   pretrained=pretrained, cache_dir=self.cache_dir,
                                   memory_budget=self.memory_budget,
                                   data_fraction=job.data_fraction,
                                   image_size=job.trial_image_size,
                                   artifacts=self.artifacts, checkpoint_s=self.checkpoint_s)
                return objective_fn(ctx)
            except Exception as error:
                cut_off = self.cut_off_by(error)
                if cut_off is not None:
                    given_back = self.give_back_now(job.id, study, trial._trial_id, cut_off)
                raise

        self.current_trial_id = None
        try:
            # No callbacks: Optuna reads the told trial back before calling them, and a lost
            # database cutting that read off would raise past a trial already failed, which
            # neither the heartbeat nor anything else would then re-run.
            study.optimize(objective, n_trials=1, catch=(Exception,))
        except Exception as error:
            if database_error(error) is not None:
                # The run loop waits for it. A trial whose failure could not be told stays
                # RUNNING until the heartbeat check fails it (and re-runs it, unless given back).
                raise
            self.went_wrong(job.id, study, error, requeue=not given_back)
            return self.write_progress_quietly(job.id, progress, state)
        assert trial_id is not None  # optimize returned: it ran the objective and told the trial
        if cut_off is not None and not given_back:  # Optuna failed it; the database is back
            self.give_back(job.id, study, trial_id, cut_off)
        trial = study._storage.get_trial(trial_id)
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            best = trial.value if best is None else max(best, trial.value)
        log.info("job %d: trial %d %s (value %s); best so far %s", job.id, trial.number,
                 trial.state.name.lower(), trial.value, best,
                 extra={"job_id": job.id, "trial": trial.number,
                        "state": trial.state.name.lower(), "value": trial.value})
        progress.update(best_value=best, last_trial=trial.number,
                        last_state=trial.state.name.lower())
        return self.write_progress_quietly(job.id, progress, state)

    def cut_off_by(self, error: Exception) -> str | None:
        """Why a trial whose objective raised `error` is to be given back (re-run on a returned
        claim), or None: it failed on its own (or was pruned) and counts."""
        if isinstance(error, optuna.TrialPruned):
            return None
        if database_error(error) is not None:
            return "lost the database mid-trial"
        return "stopped by a signal" if self.stopped_by_signal() else None

    def give_back_now(self, job_id: int, study: optuna.Study, trial_id: int, why: str) -> bool:
        """Give back the RUNNING trial whose objective was cut off, before Optuna fails it:
        Optuna's retry callback re-queues it and its claim is returned (owed if the database
        cuts that off). Whether it was re-queued; if not (the database is still lost), it is
        given back once Optuna has failed it (`give_back`), or, if Optuna cannot tell it either,
        re-run by the heartbeat check like a dead worker's trial."""
        try:
            self.rerun(job_id, study, trial_id, why)
        except Exception as error:
            if database_error(error) is None:
                log.error("job %d: trial id %d not re-queued: %s", job_id, trial_id,
                          one_line(error), extra={"job_id": job_id})
            return False
        try:
            self.rows.run_or_owe([
                partial(study._storage.set_trial_system_attr, trial_id, GIVEN_BACK_ATTR, True),
                partial(self.rows.return_claim, job_id)])
        except Exception as error:  # owed when it is the database's
            if database_error(error) is None:
                log.error("job %d: claim not returned: %s", job_id, one_line(error),
                          extra={"job_id": job_id})
        return True

    def give_back(self, job_id: int, study: optuna.Study, trial_id: int, why: str) -> None:
        """`give_back_now` for a trial Optuna has already failed (the database was lost when
        the objective was cut off, and back when Optuna told the failure). A step the lost
        database cuts off (reading the trial back included) is owed until it answers: the trial
        is failed, so nothing else would re-run it."""
        self.rows.run_or_owe([partial(self.rerun, job_id, study, trial_id, why),
                              partial(self.rows.return_claim, job_id)])

    def rerun(self, job_id: int, study: optuna.Study, trial_id: int, why: str) -> None:
        """Optuna's `RetryHeartbeatStaleTrialCallback` on the trial: a WAITING copy with its
        parameters and attributes, `failed_trial` and `retry_history` naming it, unless it has
        been retried MAX_RETRIES times already (then its claim buys a new trial)."""
        trial = copy.deepcopy(study._storage.get_trial(trial_id))  # the callback appends to it
        retried = len(trial.system_attrs.get("retry_history", []))
        self.retry(study, trial)
        if retried < MAX_RETRIES:
            log.info("job %d: trial %d %s; re-queued (%d/%d)", job_id, trial.number,
                     why, retried + 1, MAX_RETRIES,
                     extra={"job_id": job_id, "trial": trial.number})
        else:
            log.warning("job %d: trial %d %s; not re-queued (retried %d times)", job_id,
                        trial.number, why, retried,
                        extra={"job_id": job_id, "trial": trial.number})

    def write_progress_quietly(self, job_id: int, progress: dict[str, Any], state: str) -> str:
        """`JobRows.write_progress` after a trial: an error other than the database's is logged
        and the job's last known state kept (a progress line is not worth a worker)."""
        try:
            return self.rows.write_progress(job_id, progress)
        except Exception as error:
            if database_error(error) is not None:
                raise
            log.warning("job %d: progress not written: %s", job_id, one_line(error),
                        extra={"job_id": job_id})
            return state

    def went_wrong(self, job_id: int, study: optuna.Study, error: Exception,
                   requeue: bool = True) -> None:
        """Something other than the objective (asking, telling, a callback) failed around one
        trial. The trial is failed with the reason in its attributes and, up to MAX_RETRIES
        times for the same parameters, re-queued with its claim returned (not with `requeue`
        False: given back already); a claim that never became a trial is returned. Errors here
        are logged, never raised (but the database's)."""
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
                self.rows.return_claim(job_id)
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
            if requeue and requeues < MAX_RETRIES:
                attrs = {**trial.user_attrs, REQUEUES_ATTR: requeues + 1}
                attrs.pop(ERROR_ATTR, None)
                study.enqueue_trial(trial.params, user_attrs=attrs)
                self.rows.return_claim(job_id)
                log.info("job %d: trial %d's parameters are re-queued (%d/%d)", job_id,
                         trial.number, requeues + 1, MAX_RETRIES,
                         extra={"job_id": job_id, "trial": trial.number})
        except Exception as second:
            if database_error(second) is not None:
                raise
            log.error("job %d: could not settle the trial: %s; the stale-trial check will",
                      job_id, one_line(second), extra={"job_id": job_id})


def _best_value(study: optuna.Study) -> float | None:
    try:
        return float(study.best_value)
    except ValueError:  # no complete trial yet
        return None
