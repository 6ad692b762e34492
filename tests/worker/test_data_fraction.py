"""Tuning on a fraction: a job's trials train on `training.data_fraction` of the training
images at `training.image_size`; the advisor is asked with those numbers, and the job's result
says what the full run should use (the best values carried over by the advisor's own rules)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch
from optuna.storages import BaseStorage
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from api.cli import build_parser
from api.cli.jobs import job_body, job_report
from worker import jobs, loop
from worker.errors import FieldError
from worker.full_run import full_run_result
from worker.offers import Offer
from worker.schemas import BUILTIN_OBJECTIVE, JobRequest
from worker.settings import Settings
from worker.store import make_engine, make_sessionmaker, upgrade
from worker.store.optuna_rdb import cached, make_storage
from worker.trainer.datasets import load_dataset
from worker.trainer.run import run_trial

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

JOB = {"dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": 2, "pruner": "none",
       "seed": 0, "tune": ["learning_rate"]}


@dataclass
class Store:
    url: str
    sessions: sessionmaker[Session]
    storage: BaseStorage

    def create(self, **training: object):
        with self.sessions() as session:
            body = JobRequest.model_validate({**JOB, "training": {
                "batch_size": 64, "epochs": 1, **training}})
            return jobs.create_job(session, self.storage, body)

    def get(self, job_id: int):
        with self.sessions() as session:
            return jobs.get_job(session, self.storage, job_id)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    engine = make_engine(url)
    rdb = make_storage(url)
    yield Store(url, make_sessionmaker(engine), cached(rdb))
    rdb.engine.dispose()
    engine.dispose()


def test_a_training_subset_is_stratified_and_the_same_every_time():
    data = load_dataset("digits")
    quarter = data.training_subset(0.25)
    assert quarter.profile.num_train == len(quarter.y_train) == pytest.approx(
        len(data.y_train) / 4, abs=10)
    assert torch.equal(quarter.y_train, data.training_subset(0.25).y_train)
    counts = torch.bincount(quarter.y_train, minlength=10)
    assert counts.min() >= 0.2 * len(data.y_train) / 10 / 1.3  # every class, in proportion
    assert quarter.x_val is data.x_val and data.training_subset(1.0) is data
    with pytest.raises(ValueError, match="data_fraction"):
        data.training_subset(0.0)


def test_a_trial_on_a_fraction_takes_fewer_steps_at_the_smaller_resolution():
    steps: list[int] = []
    result = run_trial({"epochs": 2, "batch_size": 64, "learning_rate": 0.05}, "digits",
                       "small_cnn", device="cpu", threads=1, data_fraction=0.25,
                       image_size=16, save=lambda epoch, capture: steps.append(capture()["step"]))
    assert steps == [len(load_dataset("digits").training_subset(0.25).y_train) // 64]
    assert result.input_size == 16
    with pytest.raises(ValueError, match="image_size: the trial can train at 4 to 32 px"):
        run_trial({"epochs": 1}, "digits", "small_cnn", device="cpu", image_size=64)


def test_the_advisor_is_asked_with_the_trials_numbers_and_for_the_full_run(store):
    whole = store.create(batch_size=64, epochs=4)
    # a tenth of digits is 144 images: 8 steps in 4 epochs against 88 for the whole set, so the
    # short-budget rule raises the whole set's rate and not the trials'
    reduced = store.create(batch_size=64, epochs=4, data_fraction=0.1, image_size=16)
    assert whole.full_run is None
    assert reduced.full_run is not None
    assert reduced.full_run.hyperparameters == whole.recommendation.hyperparameters
    assert (reduced.recommendation.hyperparameters["learning_rate"]
            < whole.recommendation.hyperparameters["learning_rate"])
    with pytest.raises(FieldError) as refused:
        store.create(image_size=64)
    assert refused.value.loc == ("body", "training", "image_size")
    assert "at most at the data set's resolution, 32 px" in str(refused.value)
    for bad in ({"data_fraction": 0}, {"data_fraction": 1.5}, {"image_size": 2}):
        with pytest.raises(ValidationError, match="training." + next(iter(bad))):
            JobRequest.model_validate({**JOB, "training": bad})


def test_a_reduced_job_ends_saying_what_the_full_run_should_use(store):
    job = store.create(batch_size=64, epochs=4, data_fraction=0.1, image_size=16)
    loop.Worker(store.url, loop.WorkerOptions(poll_s=0.01, threads=1),
                settings=Settings(probe=False),
                offer=Offer(objectives=(BUILTIN_OBJECTIVE,), datasets=("digits",))).run(
                    once=True)
    done = store.get(job.id)
    assert done.state == "succeeded", done.error
    full_run = done.result["full_run"]
    best_lr = done.result["best"]["params"]["learning_rate"]
    factor = (done.full_run.hyperparameters["learning_rate"]
              / done.recommendation.hyperparameters["learning_rate"])
    assert full_run["hyperparameters"]["learning_rate"] == pytest.approx(best_lr * factor)
    assert full_run["hyperparameters"]["epochs"] == done.full_run.hyperparameters["epochs"]
    assert factor > 1 and full_run["carried_over"][0].startswith(
        "learning_rate: the best trial's")


def test_values_are_carried_over_by_the_advices_own_factor():
    trial = {"hyperparameters": {"learning_rate": 0.1, "weight_decay": 0.0, "epochs": 5,
                                 "lr_schedule": "cosine"}}
    full = {"hyperparameters": {"learning_rate": 0.4, "weight_decay": 5e-5, "epochs": 90,
                                "lr_schedule": "cosine"}}
    carried = full_run_result(trial, full, {"learning_rate": 0.05, "weight_decay": 1e-4,
                                            "lr_schedule": "step"})
    assert carried["hyperparameters"] == {"learning_rate": pytest.approx(0.2),
                                          "weight_decay": 1e-4, "epochs": 90,
                                          "lr_schedule": "step"}
    assert "x 4 (the advice for the full run, 0.4" in carried["carried_over"][0]


def test_the_command_line_submits_a_reduced_job_and_reports_the_full_run():
    args = build_parser().parse_args(["submit", "--dataset", "digits", "--model", "small_cnn",
                                      "--data-fraction", "0.1", "--trial-image-size", "16"])
    assert job_body(args)["training"] == {"batch_size": 256, "num_gpus": 1, "pretrained": False,
                                          "goal": "accuracy", "data_fraction": 0.1,
                                          "image_size": 16}
    report = job_report({"result": {"full_run": full_run_result(
        {"hyperparameters": {"learning_rate": 0.1}},
        {"hyperparameters": {"learning_rate": 0.2, "epochs": 90}}, {"learning_rate": 0.05})}})
    assert report.splitlines() == [
        "for the full run (the trials trained on less): learning_rate=0.1  epochs=90",
        "  - learning_rate: the best trial's 0.05 x 2 (the advice for the full run, 0.2, over "
        "the advice for the trials, 0.1) = 0.1"]


def test_a_job_takes_the_advisors_own_training_spec_with_the_jobs_defaults():
    from advisor.schemas import TrainingSpec

    request = JobRequest.model_validate({**JOB, "training": TrainingSpec(batch_size=32,
                                                                         epochs=2)})
    assert (request.training.batch_size, request.training.data_fraction) == (32, 1.0)
    assert not request.training.reduced
