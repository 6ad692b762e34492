"""Optuna's storage as a worker uses it: heartbeats that survive a lost database, trials that
never beat still counted stale, and a hook at the moment a claim becomes a trial.

Three gaps in Optuna's RDB heartbeat, each of which lost or hung a job:

- A running trial with no heartbeat row is never stale in Optuna (`_get_stale_trial_ids`
  skips it). A trial created by `ask` just before the database dropped is such a trial: its
  worker's beat never landed, and the job waited for it forever. Here it is stale once its
  start is older than the grace period.
- Optuna's heartbeat thread dies on the first failed beat (the exception ends the thread), so
  a trial that outlives a database restart would be failed as stale under its living worker.
  Here a failed beat (Optuna's RDB storage raises it as a StorageInternalError over SQLAlchemy's
  OperationalError) is logged and the next one tried.
- The worker pays for a trial (the job's claim) before Optuna creates it, and gives the claim
  back when a lost database cuts `ask` off. Whether the trial had come to exist decides whether
  the claim may be given back (else the stale check re-runs it too, and the job gets one trial
  more than its budget). `on_trial_started` is called when the storage has made the trial
  RUNNING: from then on the claim belongs to the trial. When the database made it RUNNING but
  its answer was lost (a proxy killed, a connection dropped after the commit), the hook never
  runs: so a fresh trial is created with the claim's token in its system attributes
  (`CLAIM_ATTR`, in the same write), a start cut off is remembered (`cut_start`: the token, or
  the enqueued trial being popped), and the worker looks for that trial before it gives the
  claim back (`worker.loop.Worker.settle_cut_claim`).

And one gap in Optuna's stale check, `fail_stale_trials`: it fails the stale trials, then runs
the retry callback that queues their re-runs. In between, another worker sees the job's budget
spent and no trial left to run, and finishes it a trial short (seen when a database restart
cut a trial off just as the budget ran out). Here a trial found stale is marked
(`STALE_ATTR`, the time) before it is failed, and `awaiting_rerun` tells a finishing worker to
wait for its re-run (for the grace period at most: the worker failing it may die in between).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState

from worker.failures import MAX_RETRIES, database_error, first_line
from worker.store.db import begin_immediate, engine_kwargs

log = logging.getLogger("hpadvisor.worker")

#: System attribute of a trial this worker found stale, set just before failing it: when
#: (seconds since the epoch, the worker's clock).
STALE_ATTR = "hpadvisor:failed_stale_at"
#: System attribute naming the claim a fresh trial was created for (`TrialStartHook.claim`).
CLAIM_ATTR = "hpadvisor:claim"


def awaiting_rerun(trials: Sequence[FrozenTrial], grace_s: float) -> list[FrozenTrial]:
    """The trials failed as stale within the grace period whose re-run (Optuna's retry
    callback) is not queued yet and will be: the job is not done while there are any."""
    rerun = {number for t in trials for number in t.system_attrs.get("retry_history", ())}
    now = time.time()
    return [t for t in trials
            if t.state == TrialState.FAIL and t.number not in rerun
            and len(t.system_attrs.get("retry_history", ())) < MAX_RETRIES
            and now - _failed_stale_at(t) < grace_s]


def _failed_stale_at(trial: FrozenTrial) -> float:
    """When the trial was found stale (0: never; a mark its re-run inherited through Optuna's
    retry callback, older than its own start, is not its own)."""
    mark = float(trial.system_attrs.get(STALE_ATTR, 0.0))
    start = trial.datetime_start.timestamp() if trial.datetime_start is not None else 0.0
    return mark if mark >= start else 0.0


class TrialStartHook:
    """Mixin for an Optuna storage: `on_trial_started(trial_id)` once a trial is RUNNING,
    whether `ask` created it or popped an enqueued one."""

    on_trial_started: Callable[[int], None] | None = None
    #: The trials `_get_stale_trial_ids` just found, which Optuna's stale check fails next.
    _found_stale: frozenset[int] = frozenset()
    #: The claim whose trial is being started (`claim`), and the start a lost database cut off
    #: since: ("claim", token) for a fresh trial, ("trial", (trial id, its user attributes
    #: before)) for an enqueued one.
    _token: str | None = None
    cut_start: tuple[str, Any] | None = None

    def claim(self, token: str) -> None:
        """The next trial started is for the claim named `token`."""
        self._token, self.cut_start = token, None

    def _fresh(self, template_trial: FrozenTrial | None) -> FrozenTrial | None:
        """The template of a fresh trial: Optuna's (a RUNNING trial started now) with the
        claim's token, written with the trial itself."""
        if template_trial is not None or self._token is None:
            return template_trial
        return FrozenTrial(number=-1, state=TrialState.RUNNING, value=None,
                           datetime_start=datetime.now(), datetime_complete=None, params={},
                           distributions={}, user_attrs={},
                           system_attrs={CLAIM_ATTR: self._token}, intermediate_values={},
                           trial_id=-1)

    def _cut(self, start: tuple[str, Any], error: Exception) -> None:
        if database_error(error) is not None:
            self.cut_start = start

    def _started(self, trial_id: int) -> None:
        if self.on_trial_started is not None:
            self.on_trial_started(trial_id)

    def _stale(self, trial_ids: list[int]) -> list[int]:
        self._found_stale = frozenset(trial_ids)
        return trial_ids

    def set_trial_state_values(self, trial_id: int, state: TrialState,
                               values: Sequence[float] | None = None) -> bool:
        if state == TrialState.FAIL and trial_id in self._found_stale:
            # Marked before it is failed, so no worker ever sees it failed and unmarked.
            self.set_trial_system_attr(  # type: ignore[attr-defined]
                trial_id, STALE_ATTR, time.time())
        # Popping an enqueued trial for a claim: what it held before, to know it again if the
        # answer is lost (a worker writes its name and the configuration once it has it).
        before = (self.get_trial(trial_id).user_attrs  # type: ignore[attr-defined]
                  if state == TrialState.RUNNING else None)
        try:
            popped: bool = super().set_trial_state_values(  # type: ignore[misc]
                trial_id, state, values)
        except Exception as error:
            if before is not None:
                self._cut(("trial", (trial_id, dict(before))), error)
            raise
        if popped and state == TrialState.RUNNING:
            self._started(trial_id)
        return popped


class WorkerRDBStorage(TrialStartHook, RDBStorage):
    """Optuna's RDB storage with the heartbeat fixes above."""

    def _create_new_trial(self, study_id: int,
                          template_trial: FrozenTrial | None = None) -> FrozenTrial:
        # Optuna's cache calls this one directly; `create_new_trial` goes through it too.
        template = self._fresh(template_trial)
        try:
            trial = super()._create_new_trial(study_id, template)
        except Exception as error:
            if template is not template_trial:
                self._cut(("claim", self._token), error)
            raise
        if trial.state == TrialState.RUNNING:
            self._started(trial._trial_id)
        return trial

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except Exception as error:  # keep beating: the database may be back by then
            cause = database_error(error)
            if cause is None:
                raise
            # Optuna's StorageInternalError says "invalid data"; the error under it says what.
            log.warning("heartbeat of trial %d not recorded: %s", trial_id,
                        first_line(cause.__cause__ or cause))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        grace = self.grace_period or 2 * (self.heartbeat_interval or 0)
        # datetime_start reads in local time, as Optuna's datetime.now() wrote it.
        started_before = datetime.now() - timedelta(seconds=grace)
        with _create_scoped_session(self.scoped_session) as session:
            never_beat = (session.query(models.TrialModel)
                          .filter(models.TrialModel.study_id == study_id,
                                  models.TrialModel.state == TrialState.RUNNING,
                                  ~models.TrialModel.heartbeats.any())
                          .all())
            found = [trial.trial_id for trial in never_beat
                     if trial.datetime_start is not None and trial.datetime_start < started_before
                     and trial.trial_id not in stale]
        for trial_id in found:
            log.warning("trial id %d is RUNNING but never beat since its start over %d s "
                        "ago; failing it as stale", trial_id, grace)
        return self._stale(stale + found)


def make_worker_rdb_storage(url: str, *, heartbeat_interval: int, grace_period: int,
                            on_stale: Callable[[Any, FrozenTrial], None]) -> WorkerRDBStorage:
    """The worker's RDB storage on `url`: heartbeat, retry callback, `BEGIN IMMEDIATE` on
    SQLite (see `worker.store.db.begin_immediate`)."""
    storage = WorkerRDBStorage(url, engine_kwargs=engine_kwargs(url),
                               heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                               heartbeat_stale_trial_callback=on_stale)
    begin_immediate(storage.engine)
    return storage

