"""A job's seed gives it its own search: jobs that differ only in seed share no sampled
configuration, and one seed reproduces its job (through the worker's job path, on SQLite)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from worker import loop, objectives
from worker.offers import Offer
from worker.search import trial_seeds
from worker.settings import Settings
from worker.store import Job, make_engine, make_sessionmaker, session_scope, upgrade
from worker.store.optuna_rdb import make_storage
from worker.studies import create_job_study, study_name_for

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SPACE = [{"key": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True,
          "default": 0.1},
         {"key": "weight_decay", "type": "float", "low": 1e-6, "high": 1e-2, "log": True,
          "default": 1e-4}]
N_TRIALS = 8


def bowl(ctx: objectives.TrialContext) -> float:
    """A smooth score of the sampled values; the training seed is kept for the test to read."""
    ctx.trial.set_user_attr("training_seed", ctx.seed)
    lr, wd = float(ctx.config["learning_rate"]), float(ctx.config["weight_decay"])
    return -abs(lr - 0.05) - abs(wd - 1e-4) * 100


def run_job(url: str, seed: int) -> list[optuna.trial.FrozenTrial]:
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        row = Job(state="queued", objective="test-bowl", dataset="none", model_name="none",
                  n_trials=N_TRIALS, timeout_s=None, sampler="tpe", pruner="none", seed=seed,
                  tune=["learning_rate", "weight_decay"], request={},
                  recommendation={"hyperparameters": {"epochs": 1, "learning_rate": 0.1,
                                                       "weight_decay": 1e-4, "batch_size": 32,
                                                       "optimizer": "sgd"},
                                  "params_millions": 0.1, "model_family": "toy"},
                  search_space=SPACE)
        session.add(row)
        session.flush()
        job_id = row.id
    engine.dispose()
    create_job_study(make_storage(url), job_id)
    loop.Worker(url, loop.WorkerOptions(poll_s=0.01), settings=Settings(probe=False),
                offer=Offer(objectives=("test-bowl",), datasets=("none",))).run(once=True)
    return optuna.load_study(study_name=study_name_for(job_id), storage=url).trials


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(objectives.registered_objectives(), "test-bowl", bowl)
    url = f"sqlite:///{tmp_path / 'seeds.db'}"
    upgrade(url)
    return url


def sampled(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[float, float]]:
    """The configurations the sampler drew (trial 0 is the advisor's, the same in every job)."""
    return [(t.params["learning_rate"], t.params["weight_decay"]) for t in trials[1:]]


def test_jobs_that_differ_only_in_seed_share_no_draw_and_a_seed_reproduces_its_job(url):
    first, second, again = run_job(url, 0), run_job(url, 1), run_job(url, 0)
    assert len(first) == len(second) == N_TRIALS
    assert first[0].params == second[0].params  # the advisor's configuration
    assert not set(sampled(first)) & set(sampled(second))
    seeds = [[t.user_attrs["training_seed"] for t in trials] for trials in (first, second)]
    assert not set(seeds[0]) & set(seeds[1])  # nor train any trial with the same seed
    assert sampled(again) == sampled(first)
    assert [t.value for t in again] == [t.value for t in first]


def test_trial_seeds_do_not_collide_across_jobs_and_claims():
    drawn = [trial_seeds(seed, claim) for seed in range(20) for claim in range(50)]
    assert len({seeds.sampler for seeds in drawn}) == len(drawn)
    assert len({seeds.training for seeds in drawn}) == len(drawn)
    assert trial_seeds(3, 7) == trial_seeds(3, 7)
