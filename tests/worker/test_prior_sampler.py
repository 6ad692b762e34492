"""The prior sampler: draws near the advice first, hands over to TPE as trials accumulate, and
drops the prior (saying why) when the trials contradict it."""

from __future__ import annotations

import inspect
import math
import statistics
from types import SimpleNamespace

import optuna
import pytest

from advisor.schemas import SearchDimension
from worker.prior_sampler import (
    BETA,
    PRIOR_ATTR,
    PRIOR_STARTUP,
    PriorSampler,
    contradiction,
    widened,
)
from worker.search import suggest
from worker.trials import ADVISOR_ATTR, ADVISOR_ROLE

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
optuna.logging.set_verbosity(optuna.logging.WARNING)

LR = SearchDimension(key="learning_rate", type="float", low=0.01, high=0.4, log=True,
                     default=0.0632)
LS = SearchDimension(key="label_smoothing", type="float", low=0.0, high=0.2, default=0.1)
OPT = SearchDimension(key="optimizer", type="categorical", choices=["sgd", "adamw", "rmsprop"],
                      default="sgd")
DIMS = [LR, LS, OPT]


def run(objective, n_trials: int, seed: int) -> optuna.Study:
    """A study as a job runs it: the advisor's values first, a sampler rebuilt per trial with
    its own seed, over the wider box."""
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({d.key: d.default for d in DIMS}, user_attrs={ADVISOR_ATTR: ADVISOR_ROLE})
    box = widened(DIMS)
    for number in range(n_trials):
        study.sampler = PriorSampler(DIMS, seed=seed * 1000 + number)
        study.optimize(lambda trial: objective(suggest(trial, box)), n_trials=1)
    return study


def near_the_advice(params: dict) -> float:
    """Best at the advised values (the prior is right)."""
    return 1.0 - abs(math.log(params["learning_rate"] / 0.0632)) / 4 - abs(
        params["label_smoothing"] - 0.1) - 0.1 * (params["optimizer"] != "sgd")


def far_from_the_advice(params: dict) -> float:
    """Best at a rate 8x above the region's top (the prior is wrong)."""
    return 1.0 - abs(math.log(params["learning_rate"] / 3.2)) / 4


def test_the_box_reaches_twice_the_half_width_further_on_each_side():
    lr, ls, opt = widened(DIMS)
    assert (lr.low, lr.high) == pytest.approx((0.01 / 40, 0.4 * 40))  # log: 40x = (0.4/0.01)
    assert (ls.low, ls.high) == pytest.approx((0.0, 0.4))  # kept at zero or above
    assert opt == OPT and lr.default == LR.default


def test_prior_draws_sit_around_the_advice_within_its_region():
    sampler = PriorSampler(DIMS, seed=0)
    box = {d.key: d for d in widened(DIMS)}
    rates = [sampler.draw(LR, optuna.distributions.FloatDistribution(
        box["learning_rate"].low, box["learning_rate"].high, log=True)) for _ in range(2000)]
    logs = sorted(math.log(rate) for rate in rates)
    assert math.exp(logs[1000]) == pytest.approx(0.0632, rel=0.1)
    inside = sum(LR.low <= rate <= LR.high for rate in rates) / len(rates)
    assert 0.9 < inside < 0.99  # two standard deviations reach the region's edges
    optimizers = [sampler.draw(OPT, optuna.distributions.CategoricalDistribution(OPT.choices))
                  for _ in range(1000)]
    assert optimizers.count("sgd") == pytest.approx(500, abs=60)


def test_the_priors_weight_decays_as_trials_accumulate():
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({d.key: d.default for d in DIMS}, user_attrs={ADVISOR_ATTR: ADVISOR_ROLE})
    box = widened(DIMS)
    weights, startup = {}, {}
    for finished in range(1, 25):
        study.sampler = optuna.samplers.RandomSampler(seed=finished)
        study.optimize(lambda trial: 0.5 + 0 * len(suggest(trial, box)), n_trials=1)
        sampler = PriorSampler(DIMS, seed=0)
        startup[finished] = sampler.uses_prior(study, SimpleNamespace(number=finished))
        weights[finished] = sampler.tpe(study)._weight
    assert [n for n, prior in startup.items() if prior] == list(range(1, PRIOR_STARTUP + 1))
    assert weights[8] == pytest.approx(BETA / 8) and weights[24] == pytest.approx(BETA / 24)
    assert PRIOR_ATTR not in study.user_attrs


def test_the_acquisition_hook_is_where_the_sampler_expects_it():
    """The prior weighting overrides a private TPE method: fail loudly if Optuna moves it."""
    hook = inspect.signature(optuna.samplers.TPESampler._compute_acquisition_func)
    assert list(hook.parameters) == ["self", "samples", "mpe_below", "mpe_above"]


def test_a_right_prior_spends_the_budget_near_the_advice():
    """Against random search over the same box: the trials after the advisor's score higher
    (the issue's goal: few trials far below the best)."""
    for seed in range(3):
        guided = run(near_the_advice, 16, seed)
        plain = optuna.create_study(direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=seed))
        box = widened(DIMS)
        plain.optimize(lambda trial, box=box: near_the_advice(suggest(trial, box)),
                       n_trials=16)
        assert PRIOR_ATTR not in guided.user_attrs
        assert statistics.median(t.value for t in guided.trials[1:]) > statistics.median(
            t.value for t in plain.trials) + 0.2


def test_trials_that_contradict_the_prior_drop_it_and_the_search_leaves_the_region():
    found = []
    for seed in range(3):
        study = run(far_from_the_advice, 24, seed)
        dropped = study.user_attrs.get(PRIOR_ATTR)
        assert dropped is not None, "the prior was kept against the evidence"
        assert "outside the advised region" in dropped["reason"] or "below the best" in (
            dropped["reason"])
        found.append(study.best_params["learning_rate"])
    assert sum(rate > LR.high for rate in found) >= 2  # the best rates lie beyond the region


def test_no_contradiction_before_the_start_up_trials_are_in():
    study = run(far_from_the_advice, PRIOR_STARTUP, seed=0)
    assert contradiction(DIMS, study.trials) is None
