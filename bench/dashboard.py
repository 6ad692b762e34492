"""Dashboard at scale: time to first byte and page weight of the job page and the trials table
for studies of 1,000, 10,000 and 100,000 trials, printed side by side.

    .venv/bin/python bench/dashboard.py                 # 1k, 10k, 100k (about 5 minutes)
    .venv/bin/python bench/dashboard.py --sizes 1000    # quicker

Each study belongs to a real job (POST /v1/jobs on a real `hpadvisor serve`, SQLite file) and is
filled with trials shaped like the worker's: three tuned parameters, 5 epochs of intermediate
values, the `curves` and `config` user attributes, a third pruned, trial 0 the advisor's. The
trials are built with `optuna.create_trial` and written straight into Optuna's tables in one
transaction (bulk INSERTs of the same rows `RDBStorage` writes): `study.add_trials` costs about
16 ms a trial on SQLite here, 27 minutes for 100,000. A few trials are read back through
Optuna's storage API and compared, so the rows are what Optuna would have written.

Measured per size (TTFB = until the response headers, over HTTP on 127.0.0.1):
  page         GET /jobs/{id} (the HTML a browser paints first)
  summary      GET /jobs/{id}/summary (what the page polls)
  trials       GET /jobs/{id}/trials?sort=value&order=desc&page=2 (the trials table, paged in SQL)
  plot:history, plot:importances   (fetched by the page after first paint)
  v1 trials    GET /v1/jobs/{id}/trials?limit=50, cold then warm (the JSON API over Optuna's
               cached storage: the first read loads the whole study once)
and, with /usr/bin/chromium present, the page's first contentful paint in a real browser.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, distribution_to_json
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import create_engine, insert, select

REPO = Path(__file__).resolve().parents[1]
EPOCHS = 5
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _draw(rng: random.Random, dist: BaseDistribution) -> float:
    assert isinstance(dist, FloatDistribution)
    if dist.log:
        return float(dist.low * (dist.high / dist.low) ** rng.random())
    return rng.uniform(dist.low, dist.high)


def build_trials(job: dict[str, Any], n: int, seed: int = 0) -> list[FrozenTrial]:
    rng = random.Random(seed)
    dims: dict[str, BaseDistribution] = {
        d["key"]: FloatDistribution(d["low"], d["high"], log=d["log"])
        for d in job["search_space"]}
    hyper = job["recommendation"]["hyperparameters"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    trials = []
    for i in range(n):
        params = ({d["key"]: d["default"] for d in job["search_space"]} if i == 0 else
                  {k: _draw(rng, d) for k, d in dims.items()})
        pruned = i > 0 and rng.random() < 0.33
        epochs = 2 if pruned else EPOCHS
        val = [min(0.99, 0.3 + 0.12 * e + 0.1 * rng.random()) for e in range(epochs)]
        train = [min(1.0, v + 0.03) for v in val]
        attrs: dict[str, Any] = {
            "curves": {"train_accuracy": train, "val_accuracy": val,
                       "train_loss": [1 - v for v in train], "val_loss": [1 - v for v in val]},
            "config": {**hyper, **params}}
        if i == 0:
            attrs["hpadvisor_role"] = "advisor"
        trial = optuna.create_trial(
            params=params, distributions=dims, value=None if pruned else val[-1],
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            intermediate_values=dict(enumerate(val)), user_attrs=attrs)
        trial.number = i
        trial.datetime_start = start + timedelta(seconds=30 * i)
        trial.datetime_complete = trial.datetime_start + timedelta(seconds=25)
        trials.append(trial)
    return trials


def write_trials(url: str, study_name: str, trials: list[FrozenTrial]) -> float:
    """Bulk-insert `trials` into Optuna's tables (the rows RDBStorage writes); seconds taken."""
    engine = create_engine(url)
    began = time.perf_counter()
    with engine.begin() as connection:
        sid = connection.scalar(select(models.StudyModel.study_id)
                                .where(models.StudyModel.study_name == study_name))
        first = (connection.scalar(select(models.TrialModel.trial_id)
                                   .order_by(models.TrialModel.trial_id.desc()).limit(1)) or 0) + 1
        rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("t", "v", "p", "i", "u")}
        for offset, trial in enumerate(trials):
            tid = first + offset
            naive = {k: getattr(trial, k).astimezone(UTC).replace(tzinfo=None)
                     for k in ("datetime_start", "datetime_complete")}
            rows["t"].append({"trial_id": tid, "number": trial.number, "study_id": sid,
                              "state": trial.state, **naive})
            if trial.value is not None:
                rows["v"].append({"trial_id": tid, "objective": 0, "value": trial.value,
                                  "value_type": models.TrialValueModel.TrialValueType.FINITE})
            for name, dist in trial.distributions.items():
                rows["p"].append({"trial_id": tid, "param_name": name,
                                  "param_value": dist.to_internal_repr(trial.params[name]),
                                  "distribution_json": distribution_to_json(dist)})
            for step, value in trial.intermediate_values.items():
                rows["i"].append({
                    "trial_id": tid, "step": step, "intermediate_value": value,
                    "intermediate_value_type":
                        models.TrialIntermediateValueModel.TrialIntermediateValueType.FINITE})
            for key, value in trial.user_attrs.items():
                rows["u"].append({"trial_id": tid, "key": key, "value_json": json.dumps(value)})
        table = {"t": models.TrialModel.__table__, "v": models.TrialValueModel.__table__,
                 "p": models.TrialParamModel.__table__,
                 "i": models.TrialIntermediateValueModel.__table__,
                 "u": models.TrialUserAttributeModel.__table__}
        for key in ("t", "v", "p", "i", "u"):
            for chunk in range(0, len(rows[key]), 20_000):
                connection.execute(insert(table[key]), rows[key][chunk:chunk + 20_000])
    engine.dispose()
    return time.perf_counter() - began


def check_written(url: str, study_name: str, trials: list[FrozenTrial]) -> None:
    """Read a few trials back through Optuna's storage API: same values, params, epochs."""
    storage = optuna.storages.RDBStorage(url)
    sid = storage.get_study_id_from_name(study_name)
    for number in (0, len(trials) // 2, len(trials) - 1):
        tid = storage.get_trial_id_from_study_id_trial_number(sid, number)
        got, want = storage.get_trial(tid), trials[number]
        assert got.state == want.state and got.value == want.value, (got, want)
        assert got.params == want.params and got.intermediate_values == want.intermediate_values
        assert got.user_attrs == want.user_attrs
    storage.engine.dispose()


def timed(client: httpx.Client, path: str) -> tuple[float, float, int]:
    """(seconds to first byte, seconds in all, bytes)."""
    began = time.perf_counter()
    with client.stream("GET", path) as response:
        first = time.perf_counter() - began
        body = response.read()
        assert response.status_code == 200, (path, response.status_code, body[:300])
    return first, time.perf_counter() - began, len(body)


def first_paint(url: str) -> tuple[float, float] | None:
    """(first contentful paint, all plots drawn) in seconds, in Debian's Chromium."""
    if shutil.which(CHROMIUM) is None:
        return None
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, wait_until="load")
        fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]"
                            ".startTime") / 1000
        page.wait_for_function(
            "[...document.querySelectorAll('.plot[data-plot]')].every(d => d.dataset.drawn"
            " || (d.querySelector('p') && !d.textContent.includes('loading')))",
            timeout=600_000)
        drawn = page.evaluate("performance.now()") / 1000
        browser.close()
    return fcp, drawn


def start_server(url: str, directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "HPADVISOR_API_KEYS": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--database-url", url],
        cwd=directory, env=env, stdout=(directory / "server.log").open("wb"),
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError((directory / "server.log").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--skip-v1", action="store_true",
                        help="skip the cold /v1/jobs/{id}/trials read (it loads whole studies)")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    directory = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    url = f"sqlite:///{directory / 'bench.db'}"
    process, base = start_server(url, directory)
    results: dict[int, dict[str, str]] = {}
    try:
        client = httpx.Client(base_url=base, timeout=900)
        for n in sizes:
            job = client.post("/v1/jobs", json={
                "dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": min(n, 10_000),
                "training": {"batch_size": 128, "epochs": EPOCHS}}).json()
            began = time.perf_counter()
            trials = build_trials(job, n)
            built = time.perf_counter() - began
            wrote = write_trials(url, job["study_name"], trials)
            check_written(url, job["study_name"], trials)
            print(f"{n:>7} trials: built {built:.1f} s, written {wrote:.1f} s", flush=True)
            del trials
            row: dict[str, str] = {}
            jid = job["id"]
            for label, path in (
                    ("page (first)", f"/jobs/{jid}"), ("page (again)", f"/jobs/{jid}"),
                    ("summary", f"/jobs/{jid}/summary"),
                    ("trials by value p2", f"/jobs/{jid}/trials?sort=value&order=desc&page=2"),
                    ("trials by lr p200", f"/jobs/{jid}/trials?sort=learning_rate&page=200"),
                    ("plot:history", f"/jobs/{jid}/plots/history"),
                    ("plot:importances", f"/jobs/{jid}/plots/importances"),
                    ("plot:contour", f"/jobs/{jid}/plots/contour")):
                ttfb, total, size = timed(client, path)
                row[label] = f"{ttfb * 1000:,.0f} ms / {size / 1024:,.0f} KB"
                print(f"  {label:<20} ttfb {ttfb * 1000:8.0f} ms  total {total * 1000:8.0f} ms"
                      f"  {size / 1024:8.1f} KB", flush=True)
            if not options.skip_v1:
                for label in ("v1 trials (cold)", "v1 trials (warm)"):
                    ttfb, total, size = timed(client, f"/v1/jobs/{jid}/trials?limit=50")
                    row[label] = f"{ttfb * 1000:,.0f} ms / {size / 1024:,.0f} KB"
                    print(f"  {label:<20} ttfb {ttfb * 1000:8.0f} ms  {size / 1024:8.1f} KB",
                          flush=True)
            paint = first_paint(f"{base}/jobs/{jid}")
            if paint:
                row["first paint (Chromium)"] = f"{paint[0] * 1000:,.0f} ms"
                row["all plots drawn"] = f"{paint[1]:,.1f} s"
                print(f"  first contentful paint {paint[0] * 1000:.0f} ms, plots drawn "
                      f"{paint[1]:.1f} s", flush=True)
            results[n] = row
        print()
        labels = list(next(iter(results.values())))
        print(f"| {'TTFB / weight':<24} | " + " | ".join(f"{n:,} trials" for n in results) + " |")
        print("|---|" + "---|" * len(results))
        for label in labels:
            print(f"| {label:<24} | " + " | ".join(results[n].get(label, "") for n in results)
                  + " |")
        size = (directory / "bench.db").stat().st_size
        print(f"\nSQLite file: {size / 2**20:,.0f} MB; plotly.min.js (cached by the browser): "
              f"{len(client.get('/static/plotly.min.js').content) / 2**20:.1f} MB")
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
