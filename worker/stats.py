"""The job store in aggregate, for the API's Prometheus metrics (`api.metrics`): three queries,
each one pass over indexed columns, whatever the number of trials.

* `jobs_by_state` - our `jobs` table, ``COUNT ... GROUP BY state``;
* `trials_by_state` - Optuna's `trials` table joined to `studies` (our studies only, named
  ``hpadvisor-job-<id>``), ``COUNT ... GROUP BY state``. Not through Optuna's storage API:
  `get_all_trials` builds every trial with its parameters, attributes and per-epoch values, so a
  scrape would cost as much as loading every study; the count touches two indexed columns;
* `trial_durations` - finished trials' durations (``datetime_complete - datetime_start``),
  bucketed by the database in the same single pass (``SUM(CASE WHEN duration <= bucket ...)``).

The column names are Optuna's schema (``optuna/storages/_rdb/models.py``), which Optuna
versions with its own Alembic migrations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    String,
    case,
    cast,
    column,
    func,
    select,
    table,
)
from sqlalchemy.orm import Session

from worker.states import JOB_STATES
from worker.store.models import Job

#: Optuna's tables, only the columns read here.
STUDIES = table("studies", column("study_id", Integer), column("study_name"))
TRIALS = table("trials", column("trial_id", Integer), column("study_id", Integer),
               column("state"), column("datetime_start"), column("datetime_complete"))
#: Optuna's TrialState names as stored, and the label each gets.
TRIAL_STATES = {"RUNNING": "running", "WAITING": "waiting", "COMPLETE": "complete",
                "PRUNED": "pruned", "FAIL": "fail"}
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
STUDY_PREFIX = "hpadvisor-job-"
#: Seconds: quick test objectives up to long GPU trials.
BUCKETS = (0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600)


def _duration(dialect: str) -> ColumnElement[Any]:
    start, end = TRIALS.c.datetime_start, TRIALS.c.datetime_complete
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    if dialect == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    raise NotImplementedError(f"trial durations are not computed on {dialect}")


def jobs_by_state(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(JOB_STATES, 0)
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state))
    counts.update({str(state): int(n) for state, n in rows})
    return counts


def _state() -> ColumnElement[str]:
    """The state as text (PostgreSQL stores Optuna's enum type, which does not compare with
    strings)."""
    return cast(TRIALS.c.state, String)


def _our_trials() -> Any:
    return TRIALS.join(STUDIES, TRIALS.c.study_id == STUDIES.c.study_id)


def _ours() -> ColumnElement[bool]:
    return STUDIES.c.study_name.like(f"{STUDY_PREFIX}%")


def trials_by_state(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(TRIAL_STATES.values(), 0)
    state = _state()
    rows = session.execute(select(state, func.count()).select_from(_our_trials())
                           .where(_ours()).group_by(state))
    for name, n in rows:
        counts[TRIAL_STATES.get(name, name.lower())] = int(n)
    return counts


def trial_durations(session: Session) -> dict[str, tuple[list[int], int, float]]:
    """Per finished state: cumulative counts per bucket, the count and the sum of seconds."""
    duration = _duration(session.get_bind().dialect.name).label("seconds")
    finished = (select(_state().label("state"), duration).select_from(_our_trials())
                .where(_ours(), _state().in_(FINISHED),
                       TRIALS.c.datetime_start.is_not(None),
                       TRIALS.c.datetime_complete.is_not(None))
                .subquery())
    seconds = finished.c.seconds
    buckets = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in BUCKETS]
    rows = session.execute(select(finished.c.state, func.count(), func.sum(seconds), *buckets)
                           .group_by(finished.c.state))
    out = {}
    for name, count, total, *cumulative in rows:
        out[TRIAL_STATES.get(name, name.lower())] = (
            [int(c or 0) for c in cumulative], int(count), float(total or 0.0))
    return out
