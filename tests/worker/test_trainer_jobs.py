"""Submitting jobs for torchvision and timm models: the advisor's profile comes from the built
model, unknown names and fine-tuning without local weights are refused naming the field, and
an advised value the runner cannot apply refuses the job."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from optuna.storages import BaseStorage
from sqlalchemy.orm import Session, sessionmaker

from worker import jobs, registry
from worker.errors import FieldError
from worker.schemas import JobRequest
from worker.store import make_engine, make_sessionmaker, upgrade
from worker.store.optuna_rdb import cached, make_storage

JOB = {"dataset": "shapes", "model": {"name": "resnet18"},
       "training": {"batch_size": 64, "epochs": 2}, "n_trials": 2}


@dataclass
class Store:
    sessions: sessionmaker[Session]
    storage: BaseStorage

    def create(self, **changes: object):
        with self.sessions() as session:
            body = JobRequest.model_validate({**JOB, **changes})
            return jobs.create_job(session, self.storage, body)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    engine = make_engine(url)
    rdb = make_storage(url)
    yield Store(make_sessionmaker(engine), cached(rdb))
    rdb.engine.dispose()
    engine.dispose()


def test_a_torchvision_model_is_advised_with_its_built_size_and_family(store):
    job = store.create()
    assert job.model == "torchvision:resnet18"
    assert job.recommendation.model == "resnet18"
    assert job.recommendation.params_millions == pytest.approx(11.18, abs=0.01)  # 10 classes
    assert job.recommendation.model_family == "resnet"


def test_a_timm_model_outside_the_catalog_is_advised_from_its_built_size(store):
    job = store.create(model={"name": "timm:resnet10t"})
    assert job.model == "timm:resnet10t"
    assert job.recommendation.params_millions == pytest.approx(4.9, abs=0.1)
    assert job.recommendation.model_family == "resnet"


def test_a_vits_resolution_is_said_in_the_jobs_warnings(store):
    job = store.create(model={"name": "vit_tiny_patch16_224"})
    assert any("built for 32 px images" in w for w in job.recommendation.warnings)


def test_an_unknown_model_is_refused_with_close_names(store):
    with pytest.raises(FieldError) as raised:
        store.create(model={"name": "resnet181"})
    assert raised.value.loc == ("body", "model", "name")
    assert "resnet18" in raised.value.suggestions


def test_fine_tuning_without_local_weights_is_refused_saying_where_they_are_looked_for(store):
    with pytest.raises(FieldError) as raised:
        store.create(training={"batch_size": 64, "epochs": 2, "pretrained": True})
    assert raised.value.loc == ("body", "training", "pretrained")
    message = raised.value.message
    assert "torchvision:resnet18" in message and "[[weights]]" in message
    assert "torch hub" in message and "never downloaded" in message


def test_fine_tuning_is_accepted_when_a_worker_holds_the_weights(store):
    with store.sessions() as session, session.begin():
        registry.record_offer(session, "objective", "image-classification", "gpu-1", {
            "pretrained_weights": {"torchvision:resnet18": {"path": "/models/r18.pth",
                                                            "source": "config"}}})
        assert registry.weights_hosts(session, "torchvision:resnet18") == ["gpu-1"]
    job = store.create(training={"batch_size": 64, "epochs": 2, "pretrained": True})
    assert job.request["training"]["pretrained"] is True
    assert job.recommendation.hyperparameters["epochs"] == 2


def test_an_advised_value_the_runner_cannot_apply_refuses_the_job(store, monkeypatch):
    original = jobs.recommend

    def with_dropout(*args, **kwargs):
        answer = original(*args, **kwargs)
        answer.hyperparameters["dropout"] = 0.2
        return answer

    monkeypatch.setattr(jobs, "recommend", with_dropout)
    with pytest.raises(FieldError) as raised:
        store.create()
    assert raised.value.loc == ("hyperparameters", "dropout")
    assert "cannot apply" in raised.value.message
    with store.sessions() as session:
        assert jobs.list_jobs(session).total == 0


def test_the_api_and_the_cli_import_no_torch_torchvision_or_timm():
    import subprocess
    import sys

    code = ("import sys, api.app, api.cli, worker.jobs, worker.offers, worker.objectives; "
            "print(sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
