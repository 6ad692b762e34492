"""Throughput and latency of `POST /v1/recommendations` against a bare FastAPI endpoint.

Both servers run the same way (uvicorn, one process, `uvicorn.run(app, ...)` with the same
settings, started by this script on loopback ports); the bare one answers a constant dict.
The load comes from a second process (multiprocessing, spawn): `--connections` threads, each
with its own keep-alive httpx client, send a fixed number of requests after a warm-up, in
`--rounds` interleaved rounds (bare, repeated, distinct, bare, ...; the best round of each
column is kept, so load from other processes does not favour one column). Figures
are printed side by side with the ratio to the bare endpoint, for one repeated profile
(answered from the service's recommendation cache) and for distinct profiles (every request
runs the advisor).

    .venv/bin/python bench/api.py [--requests 3000] [--connections 4]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

# This file is named api.py: as a script its folder comes first on sys.path and would shadow
# the `api` package. Put the repository root there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

PROFILE = {"model": {"name": "resnet50"},
           "dataset": {"num_train_images": 1281167, "num_classes": 1000, "image_size": 224},
           "training": {"batch_size": 1024, "num_gpus": 8, "goal": "accuracy"}}
UVICORN = {"host": "127.0.0.1", "log_level": "warning", "access_log": False}


# --- the two servers (run as `bench/api.py --serve real|bare PORT DB_URL`) ---------------------

def bare_app() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve(kind: str, port: int, database_url: str) -> None:
    import uvicorn

    if kind == "bare":
        app = bare_app()
    else:
        from api.app import create_app
        from worker.settings import Settings
        from worker.store import upgrade

        upgrade(database_url)
        app = create_app(Settings(database_url=database_url, warm_trainer=False))
    uvicorn.run(app, port=port, **UVICORN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(kind: str, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", kind, str(port),
                                database_url])
    url = f"http://127.0.0.1:{port}"
    wait_until_up(process, url, f"{kind} server", tries=300)
    return process, url


def wait_until_up(process: subprocess.Popen[bytes], url: str, what: str, tries: int) -> None:
    """Poll `url` until it answers (0.1 s apart); kill `process` and exit if it never does."""
    for _ in range(tries):
        try:
            httpx.get(url + "/docs", timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{what} did not start")


# --- the load (a separate process) -------------------------------------------------------------

def _body(template: dict[str, Any], distinct: bool, index: int) -> dict[str, Any]:
    """The template, or (distinct) a copy whose batch size no other request uses."""
    if not distinct:
        return template
    return {**template, "training": {**template["training"], "batch_size": 1 + index}}


def _connection(url: str, template: dict[str, Any], distinct: bool, first: int, count: int,
                out: list[float]) -> None:
    with httpx.Client(timeout=30.0) as client:
        for index in range(first, first + count):
            body = _body(template, distinct, index)
            started = time.perf_counter()
            response = client.post(url, json=body)
            out.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")


def drive(connection: Callable[[int, int, list[float]], None], requests: int,
          connections: int, base: int = 0) -> dict[str, float]:
    """`connection(first, count, latencies)` on `connections` threads, `requests` in all
    (numbered from `base`), and the throughput and latency percentiles of the lot."""
    per = requests // connections
    latencies: list[list[float]] = [[] for _ in range(connections)]
    threads = [threading.Thread(target=connection, args=(base + i * per, per, latencies[i]))
               for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    flat = sorted(x for part in latencies for x in part)
    return {"rps": len(flat) / elapsed, "p50": statistics.median(flat) * 1e3,
            "p99": flat[int(0.99 * (len(flat) - 1))] * 1e3, "n": len(flat)}


def load(url: str, template: dict[str, Any], distinct: bool, requests: int, connections: int,
         base: int) -> dict[str, float]:
    """Runs in the load process: warm up, then `requests` requests over `connections`
    (distinct bodies are numbered from `base`, so no round repeats another's)."""
    connection = functools.partial(_connection, url, template, distinct)
    connection(base + requests, 200, [])
    return drive(connection, requests, connections, base)


def measure(url: str, body: dict[str, Any], distinct: bool, requests: int, connections: int,
            base: int = 0) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return dict(pool.apply(load, (url, body, distinct, requests, connections, base)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; best kept")
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "DB_URL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    columns = (("bare", "/bare", {}, False), ("real", "/v1/recommendations", PROFILE, False),
               ("miss", "/v1/recommendations", PROFILE, True))
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        servers = {kind: start(kind, db) for kind in ("bare", "real")}
        best: dict[str, dict[str, float]] = {}
        try:
            for round_ in range(args.rounds):  # interleaved: outside load hits all alike
                for name, path, body, distinct in columns:
                    url = servers["bare" if name == "bare" else "real"][1] + path
                    row = measure(url, body, distinct, args.requests, args.connections,
                                  base=round_ * (args.requests + 300))
                    if name not in best or row["rps"] > best[name]["rps"]:
                        best[name] = row
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait()
    report({"bare": best["bare"], "real": best["real"], "miss": best["miss"]}, args)


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    bare = results["bare"]
    print(f"uvicorn, 1 process, loopback; load from a second process: {args.connections} "
          f"keep-alive connections, {int(bare['n'])} requests per column after 200 warm-up, "
          f"best of {args.rounds} interleaved rounds (cpus: {os.cpu_count()})")
    columns = (("bare endpoint", bare), ("recommendations", results["real"]),
               ("(distinct profiles)", results["miss"]))
    print(f"{'':18}" + "".join(f"{name:>21}" for name, _ in columns))
    for key, label, digits in (("rps", "requests/s", 0), ("p50", "p50 latency (ms)", 2),
                               ("p99", "p99 latency (ms)", 2)):
        cells = "".join(f"{f'{row[key]:.{digits}f}':>12} ({row[key] / bare[key]:.2f}x)"
                        for _, row in columns)
        print(f"{label:18}{cells}")
    print("ratio in brackets: each column / bare endpoint. 'recommendations' repeats one "
          "profile (served from the service's recommendation cache after the first); "
          "'distinct profiles' gives every request its own batch size, so each one runs "
          "the advisor.")


if __name__ == "__main__":
    main()
