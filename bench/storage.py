"""Per-trial bookkeeping cost of our worker against a bare Optuna loop, on the same storage.

A trivial objective (3 suggested parameters, 5 reported epochs, no training) runs through
(bare) `study.optimize` on an RDBStorage with the same heartbeat settings as our workers, and
(ours) `worker.loop.Worker` on a job row: atomic claims, per-epoch progress, curves and config
as user attributes. Each is measured on a fresh study and on one pre-filled with `--prefill`
finished trials, to show whether a trial's cost grows with the study. Then the study's
throughput with 1, 2 and 4 worker processes on PostgreSQL, each worker on the database directly
and through `hpadvisor storage-proxy` (Optuna's gRPC proxy), with the most connections the
database held meanwhile.

    .venv/bin/python bench/storage.py [--trials 60] [--prefill 5000] [--postgres URL]
                                      [--only-throughput]

PostgreSQL: pass --postgres or set HPADVISOR_TEST_POSTGRES_URL (`make test` creates one).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where bench/advisor.py and bench/api.py
# would shadow the packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import multiprocessing
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import GrpcStorageProxy, RDBStorage
from optuna.trial import TrialState
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

from worker import objectives
from worker.loop import Worker, WorkerOptions
from worker.settings import Settings
from worker.store import make_engine, make_sessionmaker, session_scope, upgrade
from worker.store.db import engine_kwargs
from worker.store.models import Job
from worker.store.optuna_rdb import make_storage
from worker.studies import create_job_study

optuna.logging.set_verbosity(optuna.logging.ERROR)
EPOCHS = 5
SPACE = [{"key": "learning_rate", "type": "float", "low": 1e-3, "high": 1.0, "log": True,
          "default": 0.1},
         {"key": "weight_decay", "type": "float", "low": 1e-6, "high": 1e-2, "log": True,
          "default": 1e-4},
         {"key": "label_smoothing", "type": "float", "low": 0.0, "high": 0.2, "log": False,
          "default": 0.0}]
DISTRIBUTIONS = {"learning_rate": FloatDistribution(1e-3, 1.0, log=True),
                 "weight_decay": FloatDistribution(1e-6, 1e-2, log=True),
                 "label_smoothing": FloatDistribution(0.0, 0.2)}


def trivial(ctx: objectives.TrialContext) -> float:
    value = 0.0
    for epoch in range(1, EPOCHS + 1):
        value = float(ctx.config["learning_rate"]) * epoch / EPOCHS
        ctx.report(epoch, value, epochs=EPOCHS, train_accuracy=value)
    return value


def bare_objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("learning_rate", 1e-3, 1.0, log=True)
    trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
    trial.suggest_float("label_smoothing", 0.0, 0.2)
    value = 0.0
    for epoch in range(1, EPOCHS + 1):
        value = lr * epoch / EPOCHS
        trial.report(value, epoch)
    return value


objectives.registered_objectives()["bench-trivial"] = trivial


@contextmanager
def database(kind: str, postgres: str | None) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/bench.db"
        return
    assert postgres
    schema = f"bench_{uuid.uuid4().hex[:10]}"
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


def prefill(study: optuna.Study, n: int) -> None:
    trials = [optuna.trial.create_trial(
        params={"learning_rate": 0.1, "weight_decay": 1e-4, "label_smoothing": 0.0},
        distributions=DISTRIBUTIONS, value=0.1 + i * 1e-7,
        intermediate_values={e: 0.02 * e for e in range(1, EPOCHS + 1)}) for i in range(n)]
    for start in range(0, n, 1000):
        study.add_trials(trials[start:start + 1000])


def storage_for(url: str) -> RDBStorage:
    settings = Settings.from_env()
    return RDBStorage(url, engine_kwargs=engine_kwargs(url),
                      heartbeat_interval=settings.heartbeat_s, grace_period=settings.grace_s)


def bare(url: str, trials: int, filled: int) -> float:
    study = optuna.create_study(storage=storage_for(url), direction="maximize",
                                study_name=f"bare-{uuid.uuid4().hex[:6]}",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    prefill(study, filled)
    start = time.perf_counter()
    study.optimize(bare_objective, n_trials=trials)
    return (time.perf_counter() - start) / trials


def make_job(url: str, trials: int, filled: int) -> int:
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as session:
        job = Job(state="queued", objective="bench-trivial", dataset="none", model_name="none",
                  n_trials=filled + trials, timeout_s=None, sampler="random", pruner="none",
                  seed=0, tune=[d["key"] for d in SPACE], request={},
                  recommendation={"hyperparameters": {"epochs": EPOCHS}}, search_space=SPACE,
                  seeded=True, trials_claimed=filled)
        session.add(job)
        session.flush()
        job_id = job.id
    engine.dispose()
    create_job_study(make_storage(url), job_id)
    study = optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=url)
    prefill(study, filled)
    return job_id


def ours(url: str, trials: int, filled: int) -> float:
    job_id = make_job(url, trials, filled)
    worker = Worker(url, WorkerOptions(poll_s=0.05))
    start = time.perf_counter()
    worker.work_on(job_id)
    return (time.perf_counter() - start) / trials


def _work(url: str, job_id: int, storage_url: str | None) -> None:
    objectives.registered_objectives()["bench-trivial"] = trivial
    Worker(url, WorkerOptions(poll_s=0.05), storage_url=storage_url).work_on(job_id)


class PeakConnections:
    """The most connections to the database opened while the block runs, beyond those open
    when it started (sampled every 20 ms)."""

    def __init__(self, url: str) -> None:
        # Autocommit: inside one transaction pg_stat_activity answers the same snapshot again.
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        with self.engine.connect() as connection:
            while not self._stop.wait(0.02):
                self.peak = max(self.peak, self._count(connection) - self._baseline)

    @staticmethod
    def _count(connection: Connection) -> int:
        return int(connection.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                          "WHERE datname = current_database()")) or 0)

    def __enter__(self) -> PeakConnections:
        with self.engine.connect() as connection:
            self._baseline = self._count(connection)  # this connection, reused by the sampler
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def _proc_stat(pid: str) -> tuple[str, int, list[int]]:
    """(command name, parent pid, [utime, stime, cutime, cstime] in clock ticks) of a process."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    return name, int(fields[1]), [int(v) for v in fields[11:15]]


def database_cpu_s() -> float | None:
    """CPU seconds the local PostgreSQL server has used so far, its exited connections included
    (the postmaster's children times), or None when its processes cannot be read."""
    ticks = 0
    found = False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name, parent, (utime, stime, cutime, cstime) = _proc_stat(pid)
            parent_name = _proc_stat(str(parent))[0] if parent > 1 else ""
        except (OSError, ValueError, IndexError):
            continue
        if name != "postgres":
            continue
        if parent_name == "postgres":  # a backend: its own time (exited ones are below)
            ticks += utime + stime
        else:  # the postmaster: itself and every child it has reaped
            ticks += utime + stime + cutime + cstime
            found = True
    return ticks / os.sysconf("SC_CLK_TCK") if found else None


def throughput(url: str, processes: int, trials: int,
               storage_url: str | None = None) -> tuple[float, int, float | None]:
    """Trials/s of `processes` workers on one job, the peak connections meanwhile, and the
    database's CPU milliseconds per trial."""
    job_id = make_job(url, trials, 0)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_work, args=(url, job_id, storage_url))
               for _ in range(processes)]
    cpu_before = database_cpu_s()
    with PeakConnections(url) as connections:
        start = time.perf_counter()
        for process in workers:
            process.start()
        for process in workers:
            process.join()
        elapsed = time.perf_counter() - start
    time.sleep(0.5)  # the workers' connections close; their backends exit and are counted
    cpu_after = database_cpu_s()
    done = len(optuna.load_study(study_name=f"hpadvisor-job-{job_id}", storage=url)
               .get_trials(states=(TrialState.COMPLETE,)))
    cpu_ms = (None if cpu_before is None or cpu_after is None
              else (cpu_after - cpu_before) * 1e3 / done)
    return done / elapsed, connections.peak, cpu_ms


def process_cpu_s(pid: int) -> float:
    utime, stime = _proc_stat(str(pid))[2][:2]
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


@contextmanager
def storage_proxy(url: str) -> Iterator[tuple[str, int]]:
    """`hpadvisor storage-proxy` on `url` in a subprocess; yields its grpc:// address and pid."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "storage-proxy",
                                "--database-url", url, "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=60)
        yield f"grpc://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=20)


def compare_proxy(postgres: str, trials: int) -> None:
    print(f"\nPostgreSQL, {trials} trials per run: trials/s, peak connections to the database, "
          "CPU ms per trial of the database and of the proxy")
    print(f"{'workers':>8}{'direct/s':>10}{'conns':>7}{'db ms':>8}"
          f"{'proxy/s':>10}{'conns':>7}{'db ms':>8}{'proxy ms':>10}")
    for processes in (1, 2, 4):
        figures = []
        for via_proxy in (False, True):
            with database("postgresql", postgres) as url:
                upgrade(url)
                if via_proxy:
                    with storage_proxy(url) as (address, pid):
                        cpu_before = process_cpu_s(pid)
                        rate, peak, db_ms = throughput(url, processes, trials, address)
                        proxy_ms = (process_cpu_s(pid) - cpu_before) * 1e3 / trials
                    figures.append((rate, peak, db_ms, proxy_ms))
                else:
                    figures.append((*throughput(url, processes, trials), None))
        row = "".join(f"{rate:>10.1f}{peak:>7}{_ms(db_ms):>8}" for rate, peak, db_ms, _ in figures)
        print(f"{processes:>8}{row}{_ms(figures[1][3]):>10}", flush=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description="worker bookkeeping cost vs bare Optuna")
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--prefill", type=int, default=5000)
    parser.add_argument("--postgres", default=os.environ.get("HPADVISOR_TEST_POSTGRES_URL"))
    parser.add_argument("--only-throughput", action="store_true",
                        help="only the PostgreSQL throughput, direct and through the proxy")
    args = parser.parse_args()
    if args.only_throughput:
        if not args.postgres:
            parser.error("--only-throughput needs --postgres or HPADVISOR_TEST_POSTGRES_URL")
        compare_proxy(args.postgres, args.trials * 2)
        return
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    print(f"{'storage':<11}{'study size':>11}{'bare ms/trial':>15}{'ours ms/trial':>15}"
          f"{'ours/bare':>11}")
    for kind in kinds:
        for filled in (100, args.prefill):
            with database(kind, args.postgres) as url:
                upgrade(url)
                b = bare(url, args.trials, filled)
                o = ours(url, args.trials, filled)
            print(f"{kind:<11}{filled:>11}{b * 1e3:>15.1f}{o * 1e3:>15.1f}{o / b:>10.2f}x",
                  flush=True)
    if args.postgres:
        compare_proxy(args.postgres, args.trials * 2)


if __name__ == "__main__":
    main()
