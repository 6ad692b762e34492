"""The dashboard's pages, fragments and figures over HTTP (in process, no browser).

A job is created through the API and its study filled straight through Optuna's storage with
trials shaped like the worker's (parameters, per-epoch values, `curves`, `config`, the advisor's
trial marked), so these run in a second.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from sqlalchemy import update

from api.app import create_app
from api.dashboard import figures
from api.dashboard.figures import PLOT_NAMES
from worker import trials as queries
from worker.full_run import full_run_result
from worker.settings import Settings
from worker.store import Job, make_engine, make_sessionmaker, session_scope, upgrade

XSS = '<script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">'


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    upgrade(url)
    app = create_app(Settings(database_url=url, warm_trainer=False))
    with TestClient(app) as test_client:
        test_client.database_url = url  # type: ignore[attr-defined]
        yield test_client


def create_job(client: TestClient, **body: Any) -> dict[str, Any]:
    payload = {"dataset": "digits", "model": {"name": "small_cnn"},
               "training": {"batch_size": 128, "epochs": 4}, "n_trials": 40, "seed": 0, **body}
    response = client.post("/v1/jobs", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def fill(url: str, job: dict[str, Any], n: int, seed: int = 0) -> list[optuna.trial.FrozenTrial]:
    """`n` finished trials like the worker's: the first is the advisor's, about a third pruned."""
    rng = random.Random(seed)
    dims = {d["key"]: FloatDistribution(d["low"], d["high"], log=d["log"])
            for d in job["search_space"]}
    trials = []
    for i in range(n):
        if i == 0:
            params = {d["key"]: d["default"] for d in job["search_space"]}
        else:
            params = {k: (d.low * (d.high / d.low) ** rng.random() if d.log
                          else rng.uniform(d.low, d.high)) for k, d in dims.items()}
        pruned = i > 0 and rng.random() < 0.3
        epochs = 2 if pruned else 4
        val = [0.5 + 0.1 * e + 0.05 * rng.random() for e in range(epochs)]
        train = [v + 0.04 for v in val]
        attrs: dict[str, Any] = {
            "curves": {"train_accuracy": train, "val_accuracy": val,
                       "train_loss": [1 - v for v in train], "val_loss": [1 - v for v in val]},
            "config": {**job["recommendation"]["hyperparameters"], **params}}
        if i == 0:
            attrs["hpadvisor_role"] = "advisor"
        trials.append(optuna.create_trial(
            params=params, distributions=dims, value=None if pruned else val[-1],
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            intermediate_values=dict(enumerate(val)), user_attrs=attrs))
    study = optuna.load_study(study_name=job["study_name"], storage=url)
    study.add_trials(trials)
    return study.trials


def test_pages_render_for_a_new_job_without_trials(client: TestClient) -> None:
    job = create_job(client)
    for path in ("/", f"/jobs/{job['id']}", "/recommend", "/evidence", "/?state=queued"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        assert "text/html" in response.headers["content-type"]
        assert "default-src 'self'" in response.headers["content-security-policy"]
    page = client.get(f"/jobs/{job['id']}").text
    assert "lr.linear_scaling" in page or "learning_rate" in page
    assert "No trials yet" in page


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_plots_of_a_study_with_too_few_trials_are_messages_not_errors(
        client: TestClient, name: str) -> None:
    job = create_job(client)
    answer = client.get(f"/jobs/{job['id']}/plots/{name}")
    assert answer.status_code == 200
    assert "message" in answer.json() and "figure" not in answer.json()
    fill(client.database_url, job, 1)  # type: ignore[attr-defined]
    answer = client.get(f"/jobs/{job['id']}/plots/{name}")
    assert answer.status_code == 200
    assert "message" in answer.json() or answer.json()["figure"]["data"]


@pytest.mark.parametrize("name", PLOT_NAMES)
def test_every_plot_has_data_once_trials_exist(client: TestClient, name: str) -> None:
    job = create_job(client)
    fill(client.database_url, job, 12)  # type: ignore[attr-defined]
    answer = client.get(f"/jobs/{job['id']}/plots/{name}").json()
    assert answer.get("figure", {}).get("data"), answer


def test_intermediate_values_mark_pruned_trials(client: TestClient) -> None:
    job = create_job(client)
    trials = fill(client.database_url, job, 20)  # type: ignore[attr-defined]
    pruned = [t.number for t in trials if t.state == TrialState.PRUNED]
    assert pruned
    names = [trace["name"] for trace in
             client.get(f"/jobs/{job['id']}/plots/intermediate").json()["figure"]["data"]]
    assert f"Trial{pruned[0]} (pruned)" in names


def test_unknown_plot_and_job_are_404(client: TestClient) -> None:
    job = create_job(client)
    assert client.get(f"/jobs/{job['id']}/plots/nope").status_code == 404
    assert client.get("/jobs/999").status_code == 404
    assert "no job with id 999" in client.get("/jobs/999").text


def test_trials_table_sorts_and_pages_in_the_database(client: TestClient) -> None:
    job = create_job(client)
    trials = fill(client.database_url, job, 60)  # type: ignore[attr-defined]
    best = max((t for t in trials if t.value is not None), key=lambda t: t.value or 0)
    page = client.get(f"/jobs/{job['id']}/trials", params={"sort": "value", "order": "desc"})
    first_row = page.text.split("<tbody>")[1].split("</tr>")[0]
    assert re.search(rf"<td>{best.number}\b", first_row), first_row
    assert "page 1 of 3" in page.text and "60 trials" in page.text
    last = client.get(f"/jobs/{job['id']}/trials", params={"page": 3}).text
    assert "<td>59" in last and "<td>0" not in last
    lr = client.get(f"/jobs/{job['id']}/trials",
                    params={"sort": "learning_rate", "order": "asc"}).text
    smallest = min(trials, key=lambda t: t.params["learning_rate"])
    assert re.search(rf"<td>{smallest.number}\b", lr.split("<tbody>")[1].split("</tr>")[0])
    # an unknown sort key falls back to the trial number
    assert client.get(f"/jobs/{job['id']}/trials", params={"sort": "1;drop"}).status_code == 200


def test_summary_counts_best_and_advisor_rank_match_optuna(client: TestClient) -> None:
    job = create_job(client)
    trials = fill(client.database_url, job, 30)  # type: ignore[attr-defined]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    summary = client.get(f"/jobs/{job['id']}/summary").json()
    assert summary["counts"]["complete"] == len(complete)
    assert summary["done"] == 30
    assert summary["best"]["value"] == pytest.approx(max(t.value or 0 for t in complete))
    advisor = trials[0]
    rank = 1 + sum((t.value or 0) > (advisor.value or 0) for t in complete)
    assert summary["advisor"]["number"] == 0 and summary["advisor"]["rank"] == rank
    # the JSON API agrees
    detail = client.get(f"/v1/jobs/{job['id']}").json()
    assert detail["advisor"]["rank"] == rank and detail["best"]["number"] == summary["best"][
        "number"]


def test_outcome_puts_best_beside_advice_with_a_diagnosis(client: TestClient) -> None:
    job = create_job(client)
    fill(client.database_url, job, 10)  # type: ignore[attr-defined]
    html = client.get(f"/jobs/{job['id']}/outcome").text
    assert "Advisor vs best trial" in html and "Diagnosis of the best trial" in html
    for key in job["tune"]:
        assert key in html
    assert re.search(r"badge diag-\w+", html)


def test_plots_draw_from_a_bounded_sample_of_large_studies(client: TestClient) -> None:
    job = create_job(client, n_trials=200)
    trials = fill(client.database_url, job, 120)  # type: ignore[attr-defined]
    storage = client.app.state.storage  # type: ignore[attr-defined]
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        sid = queries.study_id(session, job["study_name"])
        sample = queries.sample_trials(session, storage, sid, cap=40, best=10)
    assert sample.total == 120 and len(sample.trials) <= 40 and not sample.complete
    numbers = {t.number for t in sample.trials}
    assert 0 in numbers  # the advisor's trial is always drawn
    ranked = sorted((t for t in trials if t.value is not None), key=lambda t: -(t.value or 0))
    assert {t.number for t in ranked[:10]} <= numbers  # and the best ones
    answer = figures.optuna_figure("history", sample.trials, sample.total)
    assert answer["figure"]["data"] and re.search(r"sample of \d+ of 120 trials", answer["note"])


def test_client_text_is_escaped_everywhere(client: TestClient) -> None:
    recommended = client.get("/recommend", params={"model": XSS, "params_millions": "0.1"}).text
    assert "<script>window.__xss" not in recommended
    assert "&lt;script&gt;window.__xss" in recommended
    echoed = client.get("/recommend", params={"model": XSS}).text
    assert "<script>window.__xss" not in echoed and "<img src=\"x\"" not in echoed


def test_plotly_is_served_by_the_app(client: TestClient) -> None:
    response = client.get("/static/plotly.min.js")
    assert response.status_code == 200 and len(response.content) > 1_000_000
    assert b"plotly.js" in response.content[:2000].lower() or b"Plotly" in response.content
    for name in ("dashboard.css", "dashboard.js"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404
    html = client.get("/recommend", params={"model": "resnet50"}).text
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_a_job_tuned_on_a_fraction_shows_the_prior_and_the_full_run(client: TestClient) -> None:
    job = create_job(client, sampler="prior",
                     training={"batch_size": 64, "epochs": 4, "data_fraction": 0.25,
                               "image_size": 16})
    assert job["full_run"]["hyperparameters"]["epochs"] == 4
    result = {"prior": {"reason": "the prior held: no finished trial contradicted the advice"},
              "full_run": full_run_result(job["recommendation"], job["full_run"],
                                          {"learning_rate": 0.05})}
    engine = make_engine(client.database_url)  # type: ignore[attr-defined]
    with session_scope(make_sessionmaker(engine)) as session:
        session.execute(update(Job).where(Job.id == job["id"]).values(result=result))
    engine.dispose()
    page = client.get(f"/jobs/{job['id']}").text
    assert "The advice as a prior: the prior held" in page
    assert "The trials trained on 25.0% of the images at 16 px; for the full run:" in page
    assert "learning_rate: the best trial&#39;s 0.05 x" in page
