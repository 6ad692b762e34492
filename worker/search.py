"""From a job to Optuna's pieces: the sampler, the pruner, and each trial's configuration.

Samplers and pruners are Optuna's own classes; the trial's configuration is the advisor's
values with the tuned keys replaced by what the sampler suggests inside the advisor's region.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import optuna
from optuna.pruners import (
    BasePruner,
    HyperbandPruner,
    MedianPruner,
    NopPruner,
    SuccessiveHalvingPruner,
)
from optuna.samplers import (
    BaseSampler,
    CmaEsSampler,
    GPSampler,
    QMCSampler,
    RandomSampler,
    TPESampler,
)

from advisor.schedules import default_params
from advisor.schemas import SearchDimension
from advisor.search_space import DEFAULT_TUNED
from worker.prior_sampler import PriorSampler, widened


def make_sampler(name: str, seed: int | None,
                 dims: list[SearchDimension] | None = None) -> BaseSampler:
    """Optuna's sampler for `name`; TPE keeps Optuna 5's defaults (multivariate, constant liar,
    which keeps parallel workers from sampling the same point). ``prior`` is ours
    (`worker.prior_sampler`): the advice's region `dims` as a prior, TPE as trials come in."""
    samplers = {
        "prior": lambda: PriorSampler(dims or [], seed=seed),
        "tpe": lambda: TPESampler(seed=seed),
        "random": lambda: RandomSampler(seed=seed),
        "gp": lambda: GPSampler(seed=seed),
        "cmaes": lambda: CmaEsSampler(seed=seed, warn_independent_sampling=False),
        "qmc": lambda: QMCSampler(seed=seed, warn_independent_sampling=False),
    }
    return samplers[name]()


class TrialSeeds(NamedTuple):
    """The random seeds of one claimed trial: its sampler's draw and its training."""

    sampler: int
    training: int


def trial_seeds(job_seed: int, claim: int) -> TrialSeeds:
    """The seeds of a job's `claim`-th trial, from numpy's `SeedSequence` keyed by the job's seed
    and the claim: independent streams, so jobs that differ only in seed share no draw (adding
    the claim to the seed, as before, made seed 1's trials seed 0's shifted by one), and one
    seed reproduces its job."""
    sampler, training = np.random.SeedSequence(entropy=job_seed,
                                               spawn_key=(claim,)).generate_state(2)
    return TrialSeeds(int(sampler), int(training))


def make_pruner(name: str, epochs: int, n_trials: int) -> BasePruner:
    """Validation accuracy jumps between epochs early on, so no pruning in the first third."""
    warmup = max(1, epochs // 3)
    pruners = {
        "median": lambda: MedianPruner(n_startup_trials=min(5, max(1, n_trials // 4)),
                                       n_warmup_steps=warmup),
        "hyperband": lambda: HyperbandPruner(min_resource=warmup, max_resource=epochs),
        "successive_halving": lambda: SuccessiveHalvingPruner(min_resource=warmup),
        "none": NopPruner,
    }
    return pruners[name]()


def tuned_dimensions(search_space: list[dict[str, Any]],
                     tune: list[str] | None) -> list[SearchDimension]:
    keys = tune or list(DEFAULT_TUNED)
    dims = [SearchDimension.model_validate(d) for d in search_space]
    return [d for d in dims if d.key in keys]


def searched_box(sampler: str, dims: list[SearchDimension]) -> list[SearchDimension]:
    """What the trials of a job with `sampler` search: the advisor's region, or for the prior
    sampler the wider box around it (the region is then the prior's, not a wall)."""
    return widened(dims) if sampler == "prior" else dims


def suggest(trial: optuna.Trial, dims: list[SearchDimension]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for dim in dims:
        if dim.type == "categorical":
            values[dim.key] = trial.suggest_categorical(dim.key, dim.choices or [dim.default])
        elif dim.type == "int":
            values[dim.key] = trial.suggest_int(dim.key, int(dim.low or 0), int(dim.high or 0))
        else:
            values[dim.key] = trial.suggest_float(dim.key, float(dim.low or 0.0),
                                                  float(dim.high or 0.0), log=dim.log)
    return values


def advisor_params(dims: list[SearchDimension]) -> dict[str, Any]:
    """The advisor's own values of the tuned keys: the first trial of every job."""
    return {dim.key: dim.default for dim in dims}


def trial_config(advised: dict[str, Any], sampled: dict[str, Any]) -> dict[str, Any]:
    """The advisor's configuration with the sampled keys replaced (crop_scale_min is the lower
    end of crop_scale). A sampled schedule or length gets the parameters the advisor gives that
    schedule over that length (`advisor.schedules`), not the ones advised for another."""
    config = dict(advised)
    for key, value in sampled.items():
        if key == "crop_scale_min":
            high = float(config.get("crop_scale", [0.08, 1.0])[1])
            config["crop_scale"] = [min(float(value), high), high]
        else:
            config[key] = value
    schedule, epochs = config.get("lr_schedule"), config.get("epochs")
    if (schedule, epochs) != (advised.get("lr_schedule"), advised.get("epochs")) and \
            schedule is not None and epochs is not None:
        config["lr_schedule_params"] = default_params(str(schedule), int(epochs))
    return config
