"""Tuning jobs over HTTP against a real server on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from servers import LiveServer

pytestmark = pytest.mark.slow

JOB = {"objective": "image-classification", "dataset": "digits", "model": {"name": "resnet20"},
       "training": {"batch_size": 128, "epochs": 15, "goal": "accuracy"}, "n_trials": 20,
       "timeout_s": None, "sampler": "tpe", "pruner": "median", "seed": 0,
       "tune": ["learning_rate", "weight_decay", "label_smoothing"]}


def create(server: LiveServer, **changes: Any) -> dict[str, Any]:
    with server.client() as http:
        response = http.post("/v1/jobs", json={**JOB, **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_created_job_is_queued_with_a_recommendation_and_a_study(live_server: LiveServer) -> None:
    job = create(live_server)
    assert job["state"] == "queued" and job["study_name"] == f"hpadvisor-job-{job['id']}"
    assert job["recommendation"]["hyperparameters"]["horizontal_flip"] is False  # digits
    assert [d["key"] for d in job["search_space"]] == JOB["tune"]
    assert job["trials_done"] == 0 and job["best"] is None
    study = optuna.load_study(study_name=job["study_name"], storage=live_server.database_url)
    assert study.user_attrs["hpadvisor_job_id"] == job["id"]
    with live_server.client(key=None) as http:
        again = http.get(f"/v1/jobs/{job['id']}").json()
    assert again["recommendation"] == job["recommendation"]


@pytest.mark.parametrize(("changes", "loc"), [
    ({"n_trials": 0}, ["body", "n_trials"]),
    ({"n_trials": 10_001}, ["body", "n_trials"]),
    ({"sampler": "grid"}, ["body", "sampler"]),
    ({"pruner": "patient"}, ["body", "pruner"]),
    ({"dataset": "cifar10"}, ["body", "dataset"]),
    ({"dataset": "../../etc/passwd"}, ["body", "dataset"]),
    ({"objective": "rm -rf"}, ["body", "objective"]),
    ({"objective": "someone-elses"}, ["body", "objective"]),
    ({"tune": ["learning_rate", "dropout"]}, ["body", "tune"]),
    ({"model": {"name": "resnet21"}}, ["body", "model", "name"]),
    ({"training": {"batch_size": -1}}, ["body", "training", "batch_size"]),
    ({"timeout_s": -5}, ["body", "timeout_s"]),
])
def test_bad_job_is_422_naming_the_field(live_server: LiveServer, changes: dict[str, Any],
                                          loc: list[str]) -> None:
    with live_server.client() as http:
        response = http.post("/v1/jobs", json={**JOB, **changes})
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert loc in [p["loc"] for p in problems]
    assert all(p["msg"] for p in problems)


def test_unknown_job_is_404_and_cancelling_a_finished_one_409(live_server: LiveServer) -> None:
    job = create(live_server)
    with live_server.client() as http:
        assert http.get("/v1/jobs/999999").status_code == 404
        assert http.get("/v1/jobs/999999/trials").status_code == 404
        assert http.post("/v1/jobs/999999/cancel").status_code == 404
        assert http.get("/v1/jobs/0").status_code == 422
        assert http.get("/v1/jobs/99999999999999999999").status_code == 422
        cancelled = http.post(f"/v1/jobs/{job['id']}/cancel")
        again = http.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert again.status_code == 409
    assert again.json()["detail"][0]["loc"] == ["path", "job_id"]


def test_jobs_page_newest_first_and_filter_by_state(live_server: LiveServer) -> None:
    ids = [create(live_server)["id"] for _ in range(3)]
    with live_server.client() as http:
        http.post(f"/v1/jobs/{ids[0]}/cancel").raise_for_status()
        everything = http.get("/v1/jobs", params={"limit": 500}).json()
        pages, offset = [], 0
        while offset is not None:
            page = http.get("/v1/jobs", params={"limit": 2, "offset": offset}).json()
            pages.append(page)
            offset = page["next_offset"]
        cancelled = http.get("/v1/jobs", params={"state": "cancelled"}).json()
        queued = http.get("/v1/jobs", params={"state": "queued", "limit": 500}).json()
        bad = http.get("/v1/jobs", params={"state": "sleeping", "limit": 0})
    paged = [job["id"] for page in pages for job in page["items"]]
    assert paged == [job["id"] for job in everything["items"]] == sorted(paged, reverse=True)
    assert everything["total"] == len(paged) and all(p["limit"] == 2 for p in pages)
    assert ids[0] in [job["id"] for job in cancelled["items"]]
    assert {job["state"] for job in cancelled["items"]} == {"cancelled"}
    assert set(ids[1:]) <= {job["id"] for job in queued["items"]}
    assert ids[0] not in {job["id"] for job in queued["items"]}
    assert bad.status_code == 422
    assert {tuple(p["loc"]) for p in bad.json()["detail"]} == {("query", "state"),
                                                              ("query", "limit")}


def test_trials_and_the_advisors_rank_come_from_optuna(live_server: LiveServer) -> None:
    job = create(live_server, n_trials=4)
    study = optuna.load_study(study_name=job["study_name"], storage=live_server.database_url)
    study.enqueue_trial({"learning_rate": 0.1}, user_attrs={"hpadvisor_role": "advisor"})
    values = iter([0.9, 0.95, 0.5, 0.97])

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
        value = next(values)
        trial.report(value / 2, 0)
        trial.report(value, 1)
        return value

    study.optimize(objective, n_trials=4)
    with live_server.client(key=None) as http:
        detail = http.get(f"/v1/jobs/{job['id']}").json()
        page = http.get(f"/v1/jobs/{job['id']}/trials", params={"limit": 3, "offset": 1}).json()
    assert detail["trials_done"] == 4 and detail["trials"]["complete"] == 4
    assert detail["best"]["value"] == 0.97 and detail["best"]["number"] == 3
    assert detail["advisor"]["rank"] == 3 and detail["advisor"]["of"] == 4
    assert page["total"] == 4 and [t["number"] for t in page["items"]] == [1, 2, 3]
    assert page["items"][0]["intermediate_values"] == {"0": 0.475, "1": 0.95}
    assert page["items"][0]["state"] == "complete" and "learning_rate" in page["items"][0]["params"]
