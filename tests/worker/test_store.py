"""The job store on SQLite and PostgreSQL: migrations, jobs, their Optuna studies, the registry."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from optuna.storages import BaseStorage
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

from worker import jobs, registry, results
from worker.errors import FieldError, JobConflict, JobNotFound
from worker.schemas import JobRequest
from worker.store import Base, Job, include_our_objects, make_engine, make_sessionmaker, upgrade
from worker.store.optuna_rdb import cached, make_storage
from worker.store.schema import VERSION_TABLE

DIGITS_JOB = {"dataset": "digits", "model": {"name": "small_cnn"},
              "training": {"batch_size": 128, "epochs": 5}, "n_trials": 6}


@dataclass
class Store:
    url: str
    sessions: sessionmaker[Session]
    storage: BaseStorage

    def create(self, **changes: object) -> int:
        with self.sessions() as session:
            body = JobRequest.model_validate({**DIGITS_JOB, **changes})
            return jobs.create_job(session, self.storage, body).id


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    engine = make_engine(database_url)
    rdb = make_storage(database_url)
    yield Store(database_url, make_sessionmaker(engine), cached(rdb))
    rdb.engine.dispose()
    engine.dispose()


def test_upgrade_on_empty_database_matches_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_object": include_our_objects, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert {"jobs", "registered_names", VERSION_TABLE} <= tables
    assert {"studies", "trials", "alembic_version"} <= tables  # Optuna's, beside ours
    upgrade(database_url)  # idempotent


@pytest.mark.slow
def test_many_processes_migrating_a_new_database_at_once_all_succeed(database_url: str,
                                                                    tmp_path) -> None:
    """Workers on several hosts starting together on a new database all migrate it at start;
    without the migration lock, three of four failed here on PostgreSQL (duplicate types)."""
    command = [sys.executable, "-m", "api.cli", "db", "upgrade", "--database-url", database_url]
    processes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert {"jobs", "trials"} <= set(inspect(connection).get_table_names())
    engine.dispose()


def test_created_job_is_queued_and_its_study_exists(store: Store) -> None:
    job_id = store.create()
    with store.sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.state == "queued"
        assert job.study_name == f"hpadvisor-job-{job_id}"
        assert job.recommendation["hyperparameters"]["horizontal_flip"] is False
        assert [dim["key"] for dim in job.search_space] == [
            "learning_rate", "weight_decay", "label_smoothing"]
    study = optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=store.url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.user_attrs["hpadvisor_job_id"] == job_id


def test_job_profile_comes_from_the_dataset_and_the_built_model(store: Store) -> None:
    with store.sessions() as session:
        detail = jobs.get_job(session, store.storage, store.create(dataset="shapes"))
    assert detail.recommendation.params_millions < 1  # small_cnn as built, not a guess
    assert detail.recommendation.hyperparameters["horizontal_flip"] is True
    assert detail.request["dataset"] == "shapes"


@pytest.mark.parametrize(("changes", "loc"), [
    ({"dataset": "cifar-9"}, ("body", "dataset")),
    ({"objective": "my-objective"}, ("body", "objective")),
    ({"model": {"name": "resnet21"}}, ("body", "model", "name")),
    ({"model": {"params_millions": 3.0}}, ("body", "model", "name")),
])
def test_unregistered_names_are_refused_naming_the_field(
        store: Store, changes: dict[str, object], loc: tuple[str, ...]) -> None:
    with pytest.raises(FieldError) as caught:
        store.create(**changes)
    assert caught.value.loc == loc
    with store.sessions() as session:
        assert jobs.list_jobs(session).total == 0


def test_worker_offered_objective_and_dataset_are_accepted(store: Store) -> None:
    profile = {"num_train": 20_000, "num_val": 2000, "num_classes": 5, "image_size": 64,
               "channels": 3, "horizontal_flip_ok": True, "description": "flowers"}
    with store.sessions() as session, session.begin():
        registry.record_offer(session, "objective", "my-objective", "gpu-1")
        registry.record_offer(session, "dataset", "flowers", "gpu-1", profile)
        registry.record_offer(session, "dataset", "flowers", "gpu-2", profile)
    with store.sessions() as session:
        flowers = registry.find_dataset(session, "flowers")
        assert flowers is not None and flowers.hosts == ["gpu-1", "gpu-2"]
        assert "my-objective" in registry.names(registry.list_objectives(session))
    job_id = store.create(objective="my-objective", dataset="flowers",
                          model={"name": "resnet50"})
    with store.sessions() as session:
        detail = jobs.get_job(session, store.storage, job_id)
    assert detail.recommendation.model == "resnet50"  # the advisor's catalog, not the runner's


def test_list_jobs_pages_newest_first_and_filters_by_state(store: Store) -> None:
    ids = [store.create() for _ in range(5)]
    with store.sessions() as session:
        jobs.cancel_job(session, store.storage, ids[1])
        first = jobs.list_jobs(session, limit=2)
        second = jobs.list_jobs(session, limit=2, offset=2)
        last = jobs.list_jobs(session, limit=2, offset=4)
        cancelled = jobs.list_jobs(session, state="cancelled")
        queued = jobs.list_jobs(session, state="queued")
    assert [j.id for j in first.items + second.items + last.items] == ids[::-1]
    assert (first.total, first.next_offset, last.next_offset) == (5, 2, None)
    assert [j.id for j in cancelled.items] == [ids[1]]
    assert queued.total == 4 and all(j.state == "queued" for j in queued.items)


def test_cancel_is_refused_for_finished_jobs_and_unknown_ids(store: Store) -> None:
    job_id = store.create()
    with store.sessions() as session:
        assert jobs.cancel_job(session, store.storage, job_id).state == "cancelled"
        with pytest.raises(JobConflict):
            jobs.cancel_job(session, store.storage, job_id)
        with pytest.raises(JobNotFound):
            jobs.cancel_job(session, store.storage, job_id + 100)
        with pytest.raises(JobNotFound):
            jobs.get_job(session, store.storage, job_id + 100)


def run_trials(url: str, job_id: int, advisor_value: float, others: list[float]) -> None:
    """Stand in for a worker: the advisor's trial first, then one trial per value."""
    study = optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=url)
    study.enqueue_trial({"learning_rate": 0.1}, user_attrs={"hpadvisor_role": "advisor"})
    values = iter([advisor_value, *others])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
        value = next(values)
        for epoch in range(3):
            trial.report(value * (epoch + 1) / 3, epoch)
        if value < 0:
            raise optuna.TrialPruned
        return value

    study.optimize(objective, n_trials=1 + len(others))


def test_job_reports_trials_best_and_the_advisors_rank(store: Store) -> None:
    job_id = store.create()
    run_trials(store.url, job_id, 0.90, [0.95, 0.80, -1.0, 0.97])
    with store.sessions() as session:
        detail = jobs.get_job(session, store.storage, job_id)
        page = jobs.list_trials(session, store.storage, job_id, limit=2, offset=2)
    assert (detail.trials.complete, detail.trials.pruned, detail.trials_done) == (4, 1, 5)
    assert detail.best is not None and (detail.best.number, detail.best.value) == (4, 0.97)
    assert (detail.advisor.trial_number, detail.advisor.rank, detail.advisor.of) == (0, 3, 4)
    assert detail.advisor.params["learning_rate"] == detail.search_space[0].default
    assert [t.number for t in page.items] == [2, 3] and page.total == 5
    assert page.items[1].state == "pruned"
    assert page.items[0].intermediate_values == pytest.approx({0: 0.8 / 3, 1: 1.6 / 3, 2: 0.8})


def test_the_live_rank_and_the_finished_summary_pick_the_same_advisor_trial(store: Store) -> None:
    # Two trials carry the advisor's role (its parameters re-queued) and the later one died:
    # the SQL count for live views and the summary written at the end both rank the one that
    # completed.
    job_id = store.create()
    study = optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=store.url)
    for _ in range(2):
        study.enqueue_trial({"learning_rate": 0.1}, user_attrs={"hpadvisor_role": "advisor"})
    values = iter([0.9, None, 0.95, 0.7])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
        value = next(values)
        if value is None:
            raise RuntimeError("the second run of the advisor's trial died")
        return value

    study.optimize(objective, n_trials=4, catch=(RuntimeError,))
    with store.sessions() as session:
        live = jobs.get_job(session, store.storage, job_id).advisor
        job = session.get(Job, job_id)
    trials_ = study.get_trials(deepcopy=False)
    complete = [t for t in trials_ if t.state == optuna.trial.TrialState.COMPLETE]
    summary = results.summarise(study, job, trials_, complete, timed_out=False)["advisor"]
    assert (live.trial_number, live.rank, live.of) == (0, 2, 3)
    assert (summary["trial_number"], summary["rank"]) == (live.trial_number, live.rank)
