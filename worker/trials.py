"""Paged, bounded reads of Optuna's tables, for the job API and the dashboard.

Optuna's storage API reads a study's trials all at once (`get_all_trials`); `_CachedStorage`
makes later reads incremental, but the first read of a 100,000-trial study still loads every
trial. The dashboard never does that. Every query here is documented by its cost and touches at
most one page of trials (or one aggregate over the study's index):

* `trial_counts` - ``SELECT state, count(*) FROM trials WHERE study_id = ? GROUP BY state``;
* `best_trial` - the complete trial with the highest value (``ORDER BY value DESC LIMIT 1``);
* `advisor_trial` - the trial whose user attribute ``hpadvisor_role`` is ``"advisor"``, and its
  rank among complete trials (one ``count(*)`` of better values);
* `trials_page` - ``ORDER BY <number | value | state | a parameter> LIMIT ? OFFSET ?``, then the
  parameters, values and epoch counts of those (at most a page of) trials only;
* `sample_trials` - a bounded sample (the best trials, the advisor's and an even spread by
  number) loaded as `FrozenTrial` objects by Optuna's own RDB loader, for the plots.

The tables and columns are Optuna's (its SQLAlchemy models, `optuna.storages._rdb.models`), the
same schema `optuna-dashboard` reads; the values are converted back the way Optuna does
(parameters through their distributions, infinite values from their stored type).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from optuna.distributions import json_to_distribution
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from worker.pagination import page_count, paginate

#: The user attribute (and its value) the worker puts on the trial of the advisor's configuration.
ADVISOR_ATTR = "hpadvisor_role"
ADVISOR_ROLE = "advisor"
#: Sort keys of the trials table besides the tuned parameters.
SORT_KEYS = ("number", "value", "state")

T = models.TrialModel
V = models.TrialValueModel
P = models.TrialParamModel
U = models.TrialUserAttributeModel
IV = models.TrialIntermediateValueModel


def study_ids(session: Session, study_names: list[str]) -> dict[str, int]:
    """The ids of the named studies that exist (one ``IN`` query)."""
    S = models.StudyModel
    return {name: sid for name, sid in session.execute(
        select(S.study_name, S.study_id).where(S.study_name.in_(study_names)))}


def study_id(session: Session, study_name: str | None) -> int | None:
    """The Optuna study id of `study_name`, or None when the study does not exist (yet)."""
    if study_name is None:
        return None
    return session.scalar(select(models.StudyModel.study_id)
                          .where(models.StudyModel.study_name == study_name))


def _value(value: float | None, kind: Any) -> float | None:
    if kind == V.TrialValueType.INF_POS:
        return math.inf
    if kind == V.TrialValueType.INF_NEG:
        return -math.inf
    return value


@functools.lru_cache(maxsize=256)
def _distribution(distribution_json: str) -> Any:
    return json_to_distribution(distribution_json)


def _param(internal: float, distribution_json: str) -> Any:
    return _distribution(distribution_json).to_external_repr(internal)


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


# --- aggregates ----------------------------------------------------------------------------------

def trial_counts(session: Session, sid: int | None) -> dict[str, int]:
    """Trials by state (lower-case names: complete, pruned, fail, running, waiting)."""
    counts = {state.name.lower(): 0 for state in TrialState}
    if sid is None:
        return counts
    rows = session.execute(select(T.state, func.count()).where(T.study_id == sid)
                           .group_by(T.state))
    for state, n in rows:
        counts[state.name.lower()] = int(n)
    return counts


def counts_by_study(session: Session, sids: list[int]) -> dict[int, dict[str, int]]:
    """`trial_counts` for several studies in one grouped query (the jobs list)."""
    found: dict[int, dict[str, int]] = {sid: {s.name.lower(): 0 for s in TrialState}
                                        for sid in sids}
    if not sids:
        return found
    rows = session.execute(select(T.study_id, T.state, func.count())
                           .where(T.study_id.in_(sids)).group_by(T.study_id, T.state))
    for sid, state, n in rows:
        found[sid][state.name.lower()] = int(n)
    return found


@dataclass
class TrialRow:
    """One row of the trials table (or the best / advisor trial)."""

    number: int
    trial_id: int
    state: str
    value: float | None
    params: dict[str, Any] = field(default_factory=dict)
    epochs: int = 0
    last_intermediate: float | None = None
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    advisor: bool = False

    @property
    def duration_s(self) -> float | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return (self.datetime_complete - self.datetime_start).total_seconds()


def _complete_values(sid: int) -> Select[Any]:
    return (select(T.trial_id, T.number, V.value)
            .join(V, and_(V.trial_id == T.trial_id, V.objective == 0))
            .where(T.study_id == sid, T.state == TrialState.COMPLETE))


def best_trial(session: Session, sid: int | None) -> TrialRow | None:
    """The complete trial with the highest value (ties: the lowest number); maximising studies."""
    if sid is None:
        return None
    row = session.execute(
        select(T.trial_id).join(V, and_(V.trial_id == T.trial_id, V.objective == 0))
        .where(T.study_id == sid, T.state == TrialState.COMPLETE, V.value.is_not(None))
        .order_by(V.value.desc(), T.number.asc()).limit(1)).first()
    return None if row is None else _rows(session, [row[0]])[0]


@dataclass
class AdvisorTrial:
    trial: TrialRow
    rank: int | None
    of: int


def advisor_trial(session: Session, sid: int | None) -> AdvisorTrial | None:
    """The trial that ran the advisor's configuration (the last complete one when it was re-run,
    else the last) and its rank (1 = best) among complete trials: what `worker.results` stores
    when the job finishes, counted here in SQL for studies too large to load."""
    if sid is None:
        return None
    trial_id = session.scalar(
        select(T.trial_id).join(U, U.trial_id == T.trial_id)
        .where(T.study_id == sid, U.key == ADVISOR_ATTR, U.value_json == json.dumps(ADVISOR_ROLE))
        .order_by((T.state == TrialState.COMPLETE).desc(), T.number.desc()).limit(1))
    if trial_id is None:
        return None
    trial = _rows(session, [trial_id])[0]
    complete = _complete_values(sid).subquery()
    of = session.scalar(select(func.count()).select_from(complete)) or 0
    if trial.state != "complete" or trial.value is None:
        return AdvisorTrial(trial, None, of)
    better = session.scalar(select(func.count()).select_from(complete)
                            .where(complete.c.value > trial.value)) or 0
    return AdvisorTrial(trial, 1 + better, of)


# --- pages of trials ---------------------------------------------------------------------------

def _rows(session: Session, trial_ids: list[int]) -> list[TrialRow]:
    """Trials by id (in the order given) with values, parameters and epoch counts."""
    if not trial_ids:
        return []
    found: dict[int, TrialRow] = {}
    for trial in session.execute(select(T.trial_id, T.number, T.state,
                                        T._datetime_start_utc.label("start"),
                                        T._datetime_complete_utc.label("end"))
                                 .where(T.trial_id.in_(trial_ids))):
        found[trial.trial_id] = TrialRow(
            number=trial.number, trial_id=trial.trial_id, state=trial.state.name.lower(),
            value=None, datetime_start=_utc(trial.start), datetime_complete=_utc(trial.end))
    for trial_id, value, kind in session.execute(
            select(V.trial_id, V.value, V.value_type)
            .where(V.trial_id.in_(trial_ids), V.objective == 0)):
        found[trial_id].value = _value(value, kind)
    for trial_id, name, internal, dist in session.execute(
            select(P.trial_id, P.param_name, P.param_value, P.distribution_json)
            .where(P.trial_id.in_(trial_ids))):
        found[trial_id].params[name] = _param(internal, dist)
    last_step = (select(IV.trial_id, func.count().label("n"), func.max(IV.step).label("last"))
                 .where(IV.trial_id.in_(trial_ids)).group_by(IV.trial_id).subquery())
    for trial_id, n, value in session.execute(
            select(last_step.c.trial_id, last_step.c.n, IV.intermediate_value)
            .join(IV, and_(IV.trial_id == last_step.c.trial_id, IV.step == last_step.c.last))):
        found[trial_id].epochs = int(n)
        found[trial_id].last_intermediate = value
    for (trial_id,) in session.execute(
            select(U.trial_id).where(U.trial_id.in_(trial_ids), U.key == ADVISOR_ATTR,
                                     U.value_json == json.dumps(ADVISOR_ROLE))):
        found[trial_id].advisor = True
    return [found[i] for i in trial_ids if i in found]


@dataclass
class TrialsPage:
    rows: list[TrialRow]
    total: int
    sort: str
    order: str
    limit: int
    offset: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    @property
    def pages(self) -> int:
        return page_count(self.total, self.limit)


def trials_page(session: Session, sid: int | None, sort: str = "number", order: str = "asc",
                limit: int = 25, offset: int = 0) -> TrialsPage:
    """One page of the study's trials, sorted in the database (`sort`: number, value, state or a
    parameter name; trials without a value or the parameter come last either way)."""
    if sid is None:
        return TrialsPage([], 0, sort, order, limit, offset)
    query = select(T.trial_id).where(T.study_id == sid)
    every = query  # counted without the joins that only order the page
    descending = order == "desc"
    if sort == "value":
        query = query.outerjoin(V, and_(V.trial_id == T.trial_id, V.objective == 0))
        key: Any = V.value
    elif sort == "state":
        key = T.state
    elif sort == "number":
        key = T.number
    else:
        query = query.outerjoin(P, and_(P.trial_id == T.trial_id, P.param_name == sort))
        key = P.param_value
    ordered = (key.desc() if descending else key.asc()).nulls_last()
    tie = T.number.desc() if descending and sort == "number" else T.number.asc()
    ids, total = paginate(session, query.order_by(ordered, tie), limit, offset, count=every)
    return TrialsPage(_rows(session, ids), total, sort, order, limit, offset)


def trial_by_number(session: Session, sid: int | None, number: int) -> TrialRow | None:
    if sid is None:
        return None
    trial_id = session.scalar(select(T.trial_id).where(T.study_id == sid, T.number == number))
    return None if trial_id is None else _rows(session, [trial_id])[0]


def user_attr(session: Session, trial_id: int, key: str) -> Any:
    """One user attribute of one trial (JSON-decoded), or None."""
    raw = session.scalar(select(U.value_json).where(U.trial_id == trial_id, U.key == key))
    return None if raw is None else json.loads(raw)


# --- a bounded sample for the plots --------------------------------------------------------------

@dataclass
class Sample:
    trials: list[FrozenTrial]
    total: int

    @property
    def complete(self) -> bool:
        return len(self.trials) >= self.total


def sample_trials(session: Session, storage: BaseStorage, sid: int | None,
                  cap: int = 1000, best: int = 200) -> Sample:
    """At most `cap` trials of the study as `FrozenTrial`s: all of them when the study is that
    small; otherwise the `best` best complete trials, the advisor's and an even spread by number.
    Loaded by Optuna's own RDB loader (`RDBStorage._get_trials`) for just those ids."""
    if sid is None:
        return Sample([], 0)
    total = session.scalar(select(func.count()).select_from(T).where(T.study_id == sid)) or 0
    if total <= cap:
        ids = set(session.scalars(select(T.trial_id).where(T.study_id == sid)))
    else:
        ids = set(session.scalars(
            _complete_values(sid).with_only_columns(T.trial_id)
            .where(V.value.is_not(None)).order_by(V.value.desc()).limit(best)))
        ids |= set(session.scalars(
            select(T.trial_id).join(U, U.trial_id == T.trial_id)
            .where(T.study_id == sid, U.key == ADVISOR_ATTR)))
        step = max(1, -(-total // (cap - len(ids))))
        ids |= set(session.scalars(select(T.trial_id).where(T.study_id == sid,
                                                            T.number % step == 0)))
    backend = rdb(storage)
    if not ids:
        return Sample([], total)
    trials = backend._get_trials(sid, None, included_trial_ids=ids,
                             trial_id_greater_than=max(ids))
    trials = [t for t in trials if t._trial_id in ids]
    trials.sort(key=lambda t: t.number)
    return Sample(trials, total)


def rdb(storage: BaseStorage) -> RDBStorage:
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        raise TypeError(f"the dashboard reads Optuna's RDB storage, not {type(backend).__name__}")
    return backend


def load(storage: BaseStorage, sid: int | None, trial_ids: list[int]) -> list[FrozenTrial]:
    """Just these trials as `FrozenTrial`s (Optuna's own RDB loader), in the order given."""
    if sid is None or not trial_ids:
        return []
    wanted = set(trial_ids)
    loaded = rdb(storage)._get_trials(sid, None, included_trial_ids=wanted,
                                      trial_id_greater_than=max(wanted))
    by_id = {t._trial_id: t for t in loaded if t._trial_id in wanted}
    return [by_id[i] for i in trial_ids if i in by_id]
