"""A long run: many quick trials through real `hpadvisor worker` processes, on PostgreSQL and
on the SQLite default, checking that the budget is exact, nothing errs, no worker dies, and
how each worker's resident memory grows per trial.

    .venv/bin/python bench/soak.py [--pg-workers 4 --pg-trials 2000]
                                   [--sqlite-workers 2 --sqlite-trials 500] [--postgres URL]

`--pg-trials` and `--sqlite-trials` are trials per worker: the job's budget is workers x
trials. The objective is the test suite's `quick` (tests/worker/plugins: no training, 2
reported epochs), so what is measured is the worker's own bookkeeping. A worker that exits
before its job is done is restarted and counted. Memory is each worker's VmRSS, sampled every
0.2 s, read when its log shows its 100th trial and each further hundred; growth per 1,000
trials is taken between trial 100 and the last hundred, because the worker that finishes the
job then computes Optuna's parameter importances (fANOVA: tens of MB, once), which the figure
at exit includes. PostgreSQL: --postgres or HPADVISOR_TEST_POSTGRES_URL (`make test` creates one).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from worker.store import make_engine, make_sessionmaker, session_scope, upgrade
from worker.store.models import Job
from worker.store.optuna_rdb import make_storage
from worker.studies import create_job_study, study_name_for

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "tests" / "worker" / "plugins"
EPOCHS = 2
SPACE = [{"key": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True,
          "default": 0.1}]
COMPLETE_LINE = re.compile(r"job \d+: trial \d+ complete")


@dataclass
class Watched:
    process: subprocess.Popen[bytes]
    log: Path
    rss_at_100_kb: int | None = None
    anon_at_100_kb: int | None = None
    trials_at_100: int | None = None
    last_rss_kb: int = 0
    last_anon_kb: int = 0
    #: (trials, VmRSS kB, RssAnon kB) each time the worker's count passes another hundred.
    checkpoints: list[tuple[int, int, int]] = field(default_factory=list)
    trials: int = 0
    history: list[tuple[int, int]] = field(default_factory=list)


@contextmanager
def database(kind: str, postgres: str | None, directory: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'soak.db'}"
        return
    assert postgres, "PostgreSQL: pass --postgres or set HPADVISOR_TEST_POSTGRES_URL"
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(postgres).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_job(url: str, n_trials: int) -> int:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        job = Job(state="queued", objective="quick", dataset="none", model_name="none",
                  n_trials=n_trials, timeout_s=None, sampler="random", pruner="none", seed=0,
                  tune=["learning_rate"], request={}, search_space=SPACE,
                  recommendation={"hyperparameters": {"epochs": EPOCHS, "learning_rate": 0.1,
                                                      "batch_size": 32, "optimizer": "sgd"},
                                  "params_millions": 0.1, "model_family": "toy"})
        session.add(job)
        session.flush()
        job_id = job.id
    engine.dispose()
    create_job_study(make_storage(url), job_id)
    return job_id


def start(url: str, directory: Path, index: int) -> Watched:
    log = directory / f"worker-{index}-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), str(ROOT)]),
           "HPADVISOR_PROGRESS_S": "1.0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "worker", "--once", "--threads", "1", "--poll", "0.2",
         "--database-url", url], cwd=directory, env=env, stdout=log.open("wb"),
        stderr=subprocess.STDOUT)
    return Watched(process, log)


def rss_kb(pid: int, field: str = "VmRSS") -> int | None:
    """A process's resident memory in kB: all of it (VmRSS), or only its anonymous memory
    (RssAnon: the heap, not pages of mapped files such as torch's libraries)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(field + r":\s+(\d+) kB", status)
    return int(found.group(1)) if found else None


def soak(kind: str, workers: int, per_worker: int, postgres: str | None) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp, database(kind, postgres, Path(tmp)) as url:
        directory = Path(tmp)
        budget = workers * per_worker
        job_id = make_job(url, budget)
        watched = [start(url, directory, i) for i in range(workers)]
        restarts = 0
        began = time.monotonic()
        while True:
            alive = 0
            for i, w in enumerate(watched):
                code = w.process.poll()
                if code is None:
                    alive += 1
                    size, anon = rss_kb(w.process.pid), rss_kb(w.process.pid, "RssAnon")
                    if size and anon:
                        w.last_rss_kb, w.last_anon_kb = size, anon
                    w.trials = len(COMPLETE_LINE.findall(w.log.read_text(errors="replace")))
                    if w.rss_at_100_kb is None and w.trials >= 100 and size and anon:
                        w.rss_at_100_kb, w.anon_at_100_kb, w.trials_at_100 = size, anon, w.trials
                    if size and anon and w.trials >= 100 * (len(w.checkpoints) + 1):
                        w.checkpoints.append((w.trials, size, anon))
                elif code != 0:
                    restarts += 1
                    print(f"{kind}: worker {i} exited with {code}; restarted", file=sys.stderr)
                    watched[i] = start(url, directory, i)
                    alive += 1
            if not alive:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - began
        for w in watched:
            w.trials = len(COMPLETE_LINE.findall(w.log.read_text(errors="replace")))
        trials = optuna.load_study(study_name=study_name_for(job_id), storage=url).trials
        logs = "\n".join(w.log.read_text(errors="replace") for w in watched)
        error_lines = [line for line in logs.splitlines()
                       if " ERROR " in line or "Traceback" in line]
        for line in error_lines[:5]:
            print(f"{kind}: {line}", file=sys.stderr)
        errors = sum(t.state == TrialState.FAIL for t in trials) + len(error_lines)
        with make_sessionmaker(make_engine(url))() as session:
            row = session.get(Job, job_id)
            assert row is not None
            state = row.state
        memory = []
        for w in watched:
            # Growth between trial 100 and the last hundred passed, before the job's finishing
            # work (importances, the evidence record) that the figure at exit includes.
            growth = anon_growth = None
            last = w.checkpoints[-1] if w.checkpoints else None
            if last and w.trials_at_100 is not None and last[0] > w.trials_at_100 and \
                    w.rss_at_100_kb is not None and w.anon_at_100_kb is not None:
                per = 1000 / (last[0] - w.trials_at_100) / 1024
                growth = round((last[1] - w.rss_at_100_kb) * per, 1)
                anon_growth = round((last[2] - w.anon_at_100_kb) * per, 1)
            memory.append({"trials": w.trials, "rss_at_100_mb": _mb(w.rss_at_100_kb),
                           "rss_at_last_hundred_mb": _mb(last[1]) if last else None,
                           "rss_at_exit_mb": _mb(w.last_rss_kb), "growth_mb_per_1000": growth,
                           "anon_at_100_mb": _mb(w.anon_at_100_kb),
                           "anon_at_last_hundred_mb": _mb(last[2]) if last else None,
                           "anon_growth_mb_per_1000": anon_growth,
                           "last_hundred": last[0] if last else None})
        return {"backend": kind, "workers": workers, "budget": budget,
                "trials_done": sum(t.state == TrialState.COMPLETE for t in trials),
                "trials_in_study": len(trials), "job_state": state, "errors": errors,
                "worker_restarts": restarts, "seconds": round(seconds, 1),
                "trials_per_s": round(len(trials) / seconds, 1), "memory": memory}


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-workers", type=int, default=4)
    parser.add_argument("--pg-trials", type=int, default=2000, help="trials per worker")
    parser.add_argument("--sqlite-workers", type=int, default=2)
    parser.add_argument("--sqlite-trials", type=int, default=500, help="trials per worker")
    parser.add_argument("--postgres", default=os.environ.get("HPADVISOR_TEST_POSTGRES_URL"))
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON object per backend")
    args = parser.parse_args()
    runs = []
    if not args.skip_postgres:
        runs.append(("postgresql", args.pg_workers, args.pg_trials))
    runs.append(("sqlite", args.sqlite_workers, args.sqlite_trials))
    ok = True
    for kind, workers, trials in runs:
        result = soak(kind, workers, trials, args.postgres)
        ok = ok and (result["trials_done"] == result["budget"] and result["errors"] == 0
                     and result["worker_restarts"] == 0)
        if args.json:
            print(json.dumps(result))
            continue
        print(f"{kind}: {workers} workers x {trials} trials: {result['trials_done']}/"
              f"{result['budget']} done ({result['trials_in_study']} in the study), job "
              f"{result['job_state']}, errors {result['errors']}, worker restarts "
              f"{result['worker_restarts']}, {result['seconds']} s "
              f"({result['trials_per_s']} trials/s)")
        for i, m in enumerate(result["memory"]):  # type: ignore[arg-type]
            print(f"  worker {i}: {m['trials']} trials; RSS {m['rss_at_100_mb']} MB at trial "
                  f"100, {m['rss_at_last_hundred_mb']} MB at trial {m['last_hundred']} "
                  f"({m['growth_mb_per_1000']} MB per 1,000 trials; anonymous "
                  f"{m['anon_at_100_mb']} -> {m['anon_at_last_hundred_mb']} MB, "
                  f"{m['anon_growth_mb_per_1000']} MB per 1,000), {m['rss_at_exit_mb']} MB "
                  f"at exit, after finishing the job")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
