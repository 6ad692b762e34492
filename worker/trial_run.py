"""One claimed trial through Optuna: sampler and pruner, the objective with epoch progress, and
what happens when the trial goes wrong.

The trial runs as `study.optimize(n_trials=1)`, so Optuna does the heartbeat, the stale-trial
check, the enqueued-trial pop, pruning and failure bookkeeping. What is ours:

- the trial's configuration: the advisor's values with the sampled ones in (`worker.search`);
- epoch progress on the job row, at most every `Settings.progress_s`, which is also where a
  cancelled job stops its trial (`JobStopped`);
- a trial stopped by a signal or a lost database is *given back*: its parameters re-queued and
  its claim returned;
- an error outside the objective (asking, telling, a callback) fails the trial with the reason
  and re-queues its parameters, at most `MAX_RETRIES` times (`went_wrong`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from worker.failures import DB_ERRORS, MAX_RETRIES, database_error, one_line
from worker.job_rows import JobRows
from worker.objectives import CONFIG_ATTR, TrialContext, get_objective
from worker.search import make_pruner, make_sampler, suggest, trial_config, tuned_dimensions
from worker.states import ACTIVE_STATES
from worker.store.models import Job

log = logging.getLogger("hpadvisor.worker")

#: User attributes of a trial that went wrong outside its objective: the error, and how often
#: its parameters have been re-queued because of such errors.
ERROR_ATTR = "hpadvisor_error"
REQUEUES_ATTR = "hpadvisor_requeues"


class JobStopped(Exception):
    """Raised inside a trial when its job was cancelled meanwhile: the trial is failed."""


class CountedRetry(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a stale trial, plus one more allowed trial on the job's budget."""

    def __init__(self, rows: JobRows) -> None:
        super().__init__(max_retry=MAX_RETRIES)
        self._rows = rows

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        super().__call__(study, trial)
        job_id = int(study.user_attrs.get("hpadvisor_job_id", -1))
        self._rows.count_retry(job_id)
        log.warning("job %s: trial %d's worker stopped beating; failed and re-queued",
                    job_id, trial.number, extra={"job_id": job_id, "trial": trial.number})


class TrialRun:
    """Runs the trials a worker claims; one instance per worker.

    `stopped_by_signal` says whether a second SIGTERM asked to stop the running trial too.
    """

    def __init__(self, rows: JobRows, *, device: str, threads: int | None, progress_s: float,
                 cache_dir: Path | None = None,
                 stopped_by_signal: Callable[[], bool] = lambda: False) -> None:
        self.rows = rows
        self.device = device
        self.threads = threads
        self.progress_s = progress_s
        self.cache_dir = cache_dir
        self.stopped_by_signal = stopped_by_signal
        #: The trial the running claim paid for, once the storage has made it RUNNING.
        self.current_trial_id: int | None = None

    def run(self, job: Job, study: optuna.Study) -> str:
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
        pretrained = bool((job.request.get("training") or {}).get("pretrained", False))

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
            nonlocal lost_database
            config = trial_config(advised, suggest(trial, dims))
            trial.set_user_attr(CONFIG_ATTR, config)
            ctx = TrialContext(trial=trial, config=config, dataset=job.dataset,
                               model=job.model_name, device=self.device, seed=seed,
                               threads=self.threads, on_epoch=partial(on_epoch, trial),
                               pretrained=pretrained, cache_dir=self.cache_dir)
            try:
                return objective_fn(ctx)
            except DB_ERRORS:
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
            self.went_wrong(job.id, study, error)
            return self.write_progress_quietly(job.id, progress, state)
        if finished and finished[0].state == TrialState.FAIL:
            if lost_database:
                self.give_back(job.id, study, finished[0], "lost the database mid-trial")
            elif self.stopped_by_signal():
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

    def give_back(self, job_id: int, study: optuna.Study, trial: FrozenTrial,
                  why: str = "stopped by a signal") -> None:
        """A trial stopped by a signal or a lost database: re-queue its parameters and return
        its claim. A step the lost database cuts off is owed until it answers (the trial is
        already failed, so nothing else would re-run it)."""
        self.rows.run_or_owe([
            partial(study.enqueue_trial, trial.params, user_attrs=dict(trial.user_attrs)),
            partial(self.rows.return_claim, job_id)])
        log.info("job %d: trial %d %s; its parameters are re-queued", job_id, trial.number,
                 why, extra={"job_id": job_id, "trial": trial.number})

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

    def went_wrong(self, job_id: int, study: optuna.Study, error: Exception) -> None:
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
            if requeues < MAX_RETRIES:
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
