"""`PriorSampler`: the advice as a prior the trials can overrule, on Optuna's sampler API.

Each tuned dimension gets a prior from the advisor's region: a normal distribution centred on
the advised value (in log space for a log dimension) whose two standard deviations reach the
region's edges, so the rule's spread (narrowed by evidence) is the prior's confidence; a
categorical dimension puts `CATEGORICAL_PRIOR` of its weight on the advised choice. The trials
search a wider box than the region (`widened`, `WIDEN` times further on each side), so the
search can leave the region when the data say so.

Which draw a trial gets (piBO, Hvarfner et al. 2022, on Optuna's TPE):

* the first `PRIOR_STARTUP` trials after the advisor's own draw from the prior, instead of
  TPE's uniform start-up trials;
* after them, Optuna's TPE (multivariate, constant liar for parallel workers) over the wide box
  proposes its candidates and ranks them by its acquisition plus ``beta / n`` times the prior's
  log density (`n` the finished trials): piBO's acquisition x prior^(beta/n), so the advice
  dominates while the trials are few and fades as they accumulate;
* once the trials contradict the prior (`contradiction`: the best value of a dimension lies
  outside the advisor's region, or the advisor's trial is `FAR_BELOW` or more below the best),
  the prior is dropped and TPE alone searches the wide box; the reason is kept on the study
  (`PRIOR_ATTR`) for the job's result.

The ranking hooks into TPE's acquisition (`TPESampler._compute_acquisition_func`, a private
method; `tests/worker/test_prior_sampler.py` fails loudly if it moves).

The sampler is rebuilt for every claimed trial (the worker seeds it per trial), so it holds no
state between trials: everything it decides is read from the study.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from advisor.schemas import SearchDimension
from worker.trials import ADVISOR_ATTR, ADVISOR_ROLE

PRIOR_STARTUP = 3
BETA = 4.0
WIDEN = 2.0
CATEGORICAL_PRIOR = 0.5
TRUNCATION_TRIES = 32
#: The advisor's trial this far (in accuracy) below the best says its region is wrong.
FAR_BELOW = 0.10
#: The study attribute that says why the prior was dropped.
PRIOR_ATTR = "hpadvisor:prior"


def widened(dims: list[SearchDimension]) -> list[SearchDimension]:
    """The box the trials search: each numeric region `WIDEN` times its half-width further on
    each side (log dimensions in log space), a linear one kept at zero or above when it was."""
    wide = []
    for dim in dims:
        if dim.type == "categorical" or dim.low is None or dim.high is None:
            wide.append(dim)
            continue
        if dim.log:
            low, high = math.log(dim.low), math.log(dim.high)
            half = (high - low) / 2
            new_low, new_high = math.exp(low - WIDEN * half), math.exp(high + WIDEN * half)
        else:
            half = (dim.high - dim.low) / 2
            new_low = dim.low - WIDEN * half
            new_high = dim.high + WIDEN * half
            if dim.low >= 0:
                new_low = max(0.0, new_low)
        if dim.type == "int":
            new_low, new_high = math.floor(new_low), math.ceil(new_high)
        wide.append(dim.model_copy(update={"low": new_low, "high": new_high}))
    return wide


def contradiction(dims: list[SearchDimension], trials: list[FrozenTrial]) -> str | None:
    """Why the finished trials say the prior is wrong, in words, or None."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if len(complete) < PRIOR_STARTUP + 1:
        return None
    best = max(complete, key=lambda t: float(t.value or 0.0))
    for dim in dims:
        value = best.params.get(dim.key)
        if dim.type == "categorical" or value is None or dim.low is None or dim.high is None:
            continue
        if not dim.low <= float(value) <= dim.high:
            return (f"the best trial (#{best.number}) has {dim.key} = {float(value):.4g}, "
                    f"outside the advised region {dim.low:.4g}..{dim.high:.4g}: the search "
                    "left the advice and went on over the wider box")
    advisor = next((t for t in complete if t.user_attrs.get(ADVISOR_ATTR) == ADVISOR_ROLE), None)
    if advisor is not None and float(best.value or 0.0) - float(advisor.value or 0.0) >= (
            FAR_BELOW):
        return (f"the advisor's trial scored {float(advisor.value or 0.0):.3f}, "
                f"{float(best.value or 0.0) - float(advisor.value or 0.0):.3f} below the best "
                f"(#{best.number}): the prior was dropped for the trials' own model")
    return None


class _PriorWeightedTPE(TPESampler):
    """TPE whose candidates are ranked with the prior's log density added, `weight` times."""

    def __init__(self, log_prior: Any, weight: float, **options: Any) -> None:
        super().__init__(**options)
        self._log_prior = log_prior
        self._weight = weight

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any,
                                  mpe_above: Any) -> np.ndarray:
        values = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        if self._weight > 0:
            values = values + self._weight * self._log_prior(samples)
        return values


class PriorSampler(BaseSampler):
    """Draws from the advice's prior first, then TPE weighted by it (see the module).

    >>> dims = [SearchDimension(key="learning_rate", type="float", low=0.01, high=1.0,
    ...                         log=True, default=0.1)]
    >>> sampler = PriorSampler(dims, seed=0)
    """

    def __init__(self, dims: list[SearchDimension], seed: int | None = None,
                 beta: float = BETA) -> None:
        self._dims = {dim.key: dim for dim in dims}
        self._beta = beta
        self._seed = seed
        self._rng = np.random.default_rng(seed)
        self._tpe: _PriorWeightedTPE | None = None
        self._from_prior: dict[int, bool] = {}

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._tpe = None

    def tpe(self, study: Study) -> _PriorWeightedTPE:
        """TPE with the prior's weight for the trials finished now (0 once dropped)."""
        if self._tpe is None:
            finished = sum(t.state == TrialState.COMPLETE
                           for t in study.get_trials(deepcopy=False))
            weight = 0.0 if PRIOR_ATTR in study.user_attrs else self._beta / max(1, finished)
            self._tpe = _PriorWeightedTPE(self.log_prior, weight, seed=self._seed,
                                          multivariate=True, constant_liar=True,
                                          n_startup_trials=PRIOR_STARTUP)
        return self._tpe

    def uses_prior(self, study: Study, trial: FrozenTrial) -> bool:
        """Whether `trial` draws from the prior itself (a start-up trial); decided once, when
        the study is also checked for trials that contradict the prior."""
        if trial.number not in self._from_prior:
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state == TrialState.COMPLETE for t in trials)
            if PRIOR_ATTR not in study.user_attrs:
                reason = contradiction(list(self._dims.values()), trials)
                if reason is not None:
                    study.set_user_attr(PRIOR_ATTR, {"dropped_at_trial": trial.number,
                                                     "reason": reason})
            self._from_prior[trial.number] = (finished <= PRIOR_STARTUP
                                              and PRIOR_ATTR not in study.user_attrs)
        return self._from_prior[trial.number]

    def infer_relative_search_space(self, study: Study,
                                    trial: FrozenTrial) -> dict[str, BaseDistribution]:
        if self.uses_prior(study, trial):
            return {}
        return self.tpe(study).infer_relative_search_space(study, trial)

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if self.uses_prior(study, trial):
            return {}
        return self.tpe(study).sample_relative(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        dim = self._dims.get(param_name)
        if dim is None or not self.uses_prior(study, trial):
            return self.tpe(study).sample_independent(study, trial, param_name,
                                                      param_distribution)
        return self.draw(dim, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.tpe(study).before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState,
                    values: Any) -> None:
        self.tpe(study).after_trial(study, trial, state, values)

    def _shape(self, dim: SearchDimension) -> tuple[float, float]:
        """(mean, standard deviation) of a numeric prior, in log space for a log dimension:
        centred on the advice, two deviations reaching the region's edges."""
        low, high = float(dim.low or 0.0), float(dim.high or 0.0)
        centre = float(dim.default) if dim.default is not None else (low + high) / 2
        transform = math.log if dim.log else float
        return transform(centre), max((transform(high) - transform(low)) / 4, 1e-12)

    def log_prior(self, samples: dict[str, np.ndarray]) -> np.ndarray:
        """The prior's log density at TPE's candidates (its internal values: numbers as they
        are, categorical choices as indices); dimensions without a prior add nothing."""
        total: np.ndarray | float = 0.0
        for name, values in samples.items():
            dim = self._dims.get(name)
            if dim is None:
                continue
            if dim.type == "categorical":
                choices = list(dim.choices or [])
                weights = np.array(self._choice_weights(dim, choices))
                total = total + np.log(weights[values.astype(int)])
            else:
                mean, sigma = self._shape(dim)
                points = np.log(np.maximum(values, 1e-300)) if dim.log else values
                total = total - 0.5 * np.square((points - mean) / sigma)
        return np.broadcast_to(np.asarray(total, dtype=float),
                               next(iter(samples.values())).shape).copy()

    @staticmethod
    def _choice_weights(dim: SearchDimension, choices: list[Any]) -> list[float]:
        if dim.default not in choices or len(choices) < 2:
            return [1.0 / max(1, len(choices))] * len(choices)
        rest = (1 - CATEGORICAL_PRIOR) / (len(choices) - 1)
        return [CATEGORICAL_PRIOR if choice == dim.default else rest for choice in choices]

    def draw(self, dim: SearchDimension, distribution: BaseDistribution) -> Any:
        """One draw from `dim`'s prior, inside `distribution`."""
        if isinstance(distribution, CategoricalDistribution):
            choices = list(distribution.choices)
            weights = np.array(self._choice_weights(dim, choices))
            return choices[int(self._rng.choice(len(choices), p=weights / weights.sum()))]
        assert isinstance(distribution, FloatDistribution | IntDistribution)
        mean, sigma = self._shape(dim)
        transform = math.log if dim.log else float
        lowest, highest = transform(float(distribution.low)), transform(float(distribution.high))
        value = mean
        for _ in range(TRUNCATION_TRIES):  # the normal truncated to the box, by rejection
            value = float(self._rng.normal(mean, sigma))
            if lowest <= value <= highest:
                break
        value = min(max(value, lowest), highest)
        value = math.exp(value) if dim.log else value
        if isinstance(distribution, IntDistribution):
            return int(min(max(round(value), distribution.low), distribution.high))
        return min(max(value, distribution.low), distribution.high)


def dropped_prior(study: optuna.Study) -> dict[str, Any] | None:
    """Why the prior was dropped, when it was (for the job's result)."""
    value = study.user_attrs.get(PRIOR_ATTR)
    return value if isinstance(value, dict) else None
