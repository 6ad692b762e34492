"""The API under concurrent mixed load with 1 and 2 uvicorn processes, beside a bare endpoint.

Servers (started here, loopback, access log off): `hpadvisor serve --workers N` on a SQLite
file holding a few jobs, and the bare FastAPI endpoint of bench/api.py (a constant dict) run
the same way (`api.cli.serve.run_processes`), each with 1 and 2 processes. The load
comes from a second process (spawn): `--connections` threads, each with its own keep-alive
client, send a mix in turn - `POST /v1/recommendations` (one repeated profile, served from the
recommendation cache), `GET /v1/jobs/{id}`, `GET /v1/jobs?limit=20` - or, against the bare
server, `POST /bare` every time. Rounds are interleaved and the best of each column is kept.

    .venv/bin/python bench/load.py [--requests 3000] [--connections 8] [--rounds 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where bench/advisor.py and bench/api.py
# would shadow the packages of the same names.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse
import functools
import importlib.util
import multiprocessing
import os
import subprocess
import tempfile
import time
from types import ModuleType
from typing import Any

import httpx


def _bench_api() -> ModuleType:
    """bench/api.py as a module (its file name would clash with the `api` package)."""
    spec = importlib.util.spec_from_file_location("bench_api", _HERE / "api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH_API = _bench_api()
PROFILE: dict[str, Any] = BENCH_API.PROFILE
JOB = {"dataset": "digits", "model": {"name": "small_cnn"}, "n_trials": 20,
       "training": {"batch_size": 128, "epochs": 3}}
#: Imported by the bare server's processes (uvicorn needs an import string for --workers).
BARE_MODULE = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("bench_api", {str(_HERE / "api.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
app = module.bare_app()
"""


# --- servers ------------------------------------------------------------------------------------

def start(kind: str, processes: int, database_url: str, directory: Path) -> tuple[
        subprocess.Popen[bytes], str]:
    """`hpadvisor serve --workers N` for the real app; the bare app through the same
    multi-process path (`api.cli.serve.run_processes`)."""
    port = BENCH_API.free_port()
    env = {**os.environ, "HPADVISOR_WARM_TRAINER": "0", "HPADVISOR_API_KEYS": ""}
    if kind == "bare":
        command = [sys.executable, __file__, "--serve-bare", str(port), str(processes),
                   str(directory)]
    else:
        command = [sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers",
                   str(processes), "--no-access-log", "--database-url", database_url]
    process = subprocess.Popen(command, env=env, cwd=_HERE.parent, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    BENCH_API.wait_until_up(process, url, f"{kind} server ({processes} processes)", tries=600)
    return process, url


def serve_bare(port: int, processes: int, directory: str) -> None:
    import uvicorn

    from api.cli.serve import run_processes

    options = {"host": "127.0.0.1", "port": port, "log_level": "warning", "access_log": False}
    if processes == 1:
        uvicorn.run(BENCH_API.bare_app(), **options)
    else:
        sys.path.insert(0, directory)
        run_processes("bare_server:app", processes, **options)


def seed_jobs(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=60.0) as client:
        ids = []
        for _ in range(count):
            response = client.post("/v1/jobs", json=JOB)
            response.raise_for_status()
            ids.append(int(response.json()["id"]))
    return ids


# --- the load (a separate process) -------------------------------------------------------------

def _requests(kind: str, job_ids: list[int], index: int) -> tuple[str, str, Any]:
    if kind == "bare":
        return "POST", "/bare", {}
    turn = index % 3
    if turn == 0:
        return "POST", "/v1/recommendations", PROFILE
    if turn == 1:
        return "GET", f"/v1/jobs/{job_ids[index % len(job_ids)]}", None
    return "GET", "/v1/jobs?limit=20", None


def _connection(url: str, kind: str, job_ids: list[int], first: int, count: int,
                out: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for index in range(first, first + count):
            method, path, body = _requests(kind, job_ids, index)
            started = time.perf_counter()
            response = client.request(method, path, json=body)
            out.append(time.perf_counter() - started)
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path}: {response.status_code} "
                                   f"{response.text[:200]}")


def load(url: str, kind: str, job_ids: list[int], requests: int,
         connections: int) -> dict[str, float]:
    """Runs in the load process: 300 warm-up requests, then `requests` over `connections`."""
    connection = functools.partial(_connection, url, kind, job_ids)
    connection(0, 300, [])
    return BENCH_API.drive(connection, requests, connections)


def measure(url: str, kind: str, job_ids: list[int], requests: int,
            connections: int) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return dict(pool.apply(load, (url, kind, job_ids, requests, connections)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best kept")
    parser.add_argument("--jobs", type=int, default=10, help="jobs in the database to read")
    parser.add_argument("--serve-bare", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        port, processes, directory = args.serve_bare
        serve_bare(int(port), int(processes), directory)
        return
    from worker.store import upgrade

    columns = [("bare", 1), ("real", 1), ("bare", 2), ("real", 2)]
    best: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "bare_server.py").write_text(BARE_MODULE)
        db = f"sqlite:///{directory / 'load.db'}"
        upgrade(db)
        servers = {column: start(*column, db, directory) for column in columns}
        try:
            job_ids = seed_jobs(servers[("real", 1)][1], args.jobs)
            for _ in range(args.rounds):
                for column in columns:
                    row = measure(servers[column][1], column[0], job_ids, args.requests,
                                  args.connections)
                    if column not in best or row["rps"] > best[column]["rps"]:
                        best[column] = row
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
    report(best, args)


def report(best: dict[tuple[str, int], dict[str, float]], args: argparse.Namespace) -> None:
    n = int(best[("bare", 1)]["n"])
    print(f"uvicorn on loopback, access log off; load from a second process: {args.connections} "
          f"keep-alive connections, {n} requests per column after 300 warm-up, best of "
          f"{args.rounds} interleaved rounds (cpus: {os.cpu_count()}); real = recommendations, "
          "job reads and job lists in turn on SQLite")
    print(f"{'':12}{'requests/s':>12}{'p50 (ms)':>10}{'p99 (ms)':>10}{'rps / bare':>12}")
    for processes in (1, 2):
        bare = best[("bare", processes)]
        for kind in ("bare", "real"):
            row = best[(kind, processes)]
            label = f"{kind} x{processes}"
            print(f"{label:12}{row['rps']:12.0f}{row['p50']:10.2f}{row['p99']:10.2f}"
                  f"{row['rps'] / bare['rps']:12.2f}")


if __name__ == "__main__":
    main()
