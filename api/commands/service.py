"""`hpadvisor serve`, `db upgrade`, `submit` and `jobs`: the service and its HTTP client.

`serve` and `db upgrade` work on the database; `submit` and `jobs` talk only to the HTTP API
(``--url``/``HPADVISOR_URL``, ``--api-key``/``HPADVISOR_API_KEY``). A service that cannot be
reached exits 1 with one line; a request the service refuses (4xx) exits 2 with its message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import httpx

from api.commands.advice import add_profile_arguments
from api.errors import UsageError

DEFAULT_URL = "http://127.0.0.1:8000"
FINAL_STATES = ("succeeded", "failed", "cancelled")
DATASET_FLAGS = ("num_images", "num_classes", "image_size")
#: The service's field names as this command line spells them, for its error messages.
FLAGS = {
    "objective": "--objective", "dataset": "--dataset", "n_trials": "--trials",
    "timeout_s": "--timeout", "sampler": "--sampler", "pruner": "--pruner", "seed": "--seed",
    "tune": "--tune", "model.name": "--model", "model.params_millions": "--params-m",
    "model.family": "--family", "training.batch_size": "--batch-size",
    "training.num_gpus": "--num-gpus", "training.epochs": "--epochs", "training.goal": "--goal",
    "training.optimizer": "--optimizer", "training.augmentation": "--augmentation",
    "authorization": "--api-key", "job_id": "ID", "state": "--state", "limit": "--limit",
}


class Unreachable(Exception):
    """The service did not answer (or answered 5xx): exit status 1."""


# --- registration ------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="uvicorn worker processes (default 1)")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                       help="log every request (default: on)")
    serve.add_argument("--log-json", action="store_true", default=_env_flag("HPADVISOR_LOG_JSON"),
                       help="log one JSON object per line (time, level, logger, message, ...; "
                       "default: $HPADVISOR_LOG_JSON)")
    _database_argument(serve)
    serve.set_defaults(handler=run_serve)

    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply the job store's migrations")
    _database_argument(upgrade)
    upgrade.set_defaults(handler=run_db_upgrade)

    submit = subparsers.add_parser("submit", help="submit a tuning job to the service")
    add_profile_arguments(submit)
    _submit_arguments(submit)
    _client_arguments(submit)
    submit.set_defaults(handler=_http(run_submit))

    jobs = subparsers.add_parser("jobs", help="list jobs, or show one with its progress")
    jobs.add_argument("id", nargs="?", type=int, help="a job id: show that job")
    jobs.add_argument("--watch", action="store_true", help="poll until the job finishes")
    jobs.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    jobs.add_argument("--state", choices=("queued", "running", "succeeded", "failed",
                                          "cancelled"))
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true", help="print the service's JSON")
    _client_arguments(jobs)
    jobs.set_defaults(handler=_http(run_jobs))


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: "
                        "$HPADVISOR_DATABASE_URL or sqlite:///./hpadvisor.db)")


def _submit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a registered data set, e.g. digits")
    parser.add_argument("--objective", default="image-classification")
    parser.add_argument("--trials", type=int, default=20, help="trial budget (1..10000)")
    parser.add_argument("--timeout", type=float, help="seconds before the job stops")
    parser.add_argument("--sampler", default="tpe", help="tpe, random, gp, cmaes or qmc")
    parser.add_argument("--pruner", default="median",
                        help="median, hyperband, successive_halving or none")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--tune", help="comma-separated keys to search, e.g. "
                        "learning_rate,weight_decay")
    parser.add_argument("--json", action="store_true", help="print the created job as JSON")


def _client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("HPADVISOR_URL", DEFAULT_URL),
                        help="the service (default: $HPADVISOR_URL or %(default)s)")
    parser.add_argument("--api-key", default=os.environ.get("HPADVISOR_API_KEY"),
                        help="API key (default: $HPADVISOR_API_KEY)")


# --- serve, db upgrade -------------------------------------------------------------------------

def _database_url(args: argparse.Namespace) -> str:
    from api.settings import Settings

    return str(args.database_url or Settings.from_env().database_url)


def _migrate(url: str) -> None:
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from worker.store import redacted, upgrade

    try:
        upgrade(url)
    except ArgumentError as error:
        raise UsageError(f"--database-url: not a database URL ({error})") from None
    except (SQLAlchemyError, ImportError) as error:
        print(f"hpadvisor: error: cannot migrate {redacted(url)}: "
              f"{str(error).splitlines()[0]}", file=sys.stderr)
        raise SystemExit(1) from None


def run_db_upgrade(args: argparse.Namespace) -> int:
    from worker.store import redacted

    url = _database_url(args)
    _migrate(url)
    print(f"database at {redacted(url)} is up to date")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    import dataclasses

    import uvicorn

    from api import logs
    from api.app import create_app
    from api.settings import Settings

    if args.workers < 1:
        raise UsageError("--workers: must be at least 1")
    if args.log_json:
        logs.setup(json_lines=True)
    url = _database_url(args)
    _migrate(url)
    try:
        settings = dataclasses.replace(Settings.from_env(), database_url=url)
    except ValueError as error:
        raise UsageError(str(error)) from None
    log_config = logs.UVICORN_LOG_CONFIG if args.log_json else uvicorn.config.LOGGING_CONFIG
    options = {"host": args.host, "port": args.port, "log_config": log_config,
               "access_log": args.access_log}
    if args.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # Several processes need an import string; each builds its app from the environment.
    os.environ["HPADVISOR_DATABASE_URL"] = url
    if args.log_json:
        os.environ["HPADVISOR_LOG_JSON"] = "1"
    run_processes("api.app:app_from_env", args.workers, factory=True, **options)
    return 0


def run_processes(app: str, workers: int, **options: Any) -> None:
    """`uvicorn.run(app, workers=N)`, with TCP_NODELAY on every connection.

    uvicorn binds the shared listening socket without naming the protocol, accepted
    connections inherit ``proto == 0`` and asyncio then leaves Nagle's algorithm on: each
    keep-alive response after the first waits for the client's delayed ACK, about 40 ms on
    Linux (uvicorn issue 3149; bench/load.py measured 188 requests/s on 8 connections against a
    bare endpoint, 4x fewer than one process). The same socket, re-wrapped as IPPROTO_TCP.
    """
    import contextlib
    import socket

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(app, workers=workers, **options)
    bound = config.bind_socket()
    listener = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP,
                             fileno=bound.detach())
    listener.set_inheritable(True)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[listener]).run()


# --- the HTTP client ---------------------------------------------------------------------------

def _http(handler: Any) -> Any:
    """Wrap a client command: unreachable service -> exit 1 with one line."""
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except Unreachable as error:
            print(f"hpadvisor: error: {error}", file=sys.stderr)
            return 1
    return run


def describe_problem(body: Any) -> str:
    """The service's 4xx detail as one line: `field: message; ...`."""
    detail = body.get("detail") if isinstance(body, dict) else body
    if not isinstance(detail, list):
        return str(detail)
    parts = []
    for item in detail:
        loc = [str(p) for p in item.get("loc", [])]
        field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
        parts.append(f"{FLAGS.get(field, field) or 'request'}: {item.get('msg', '')}")
    return "; ".join(parts)


def request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, headers=headers,
                                 timeout=60.0, **kwargs)
    except httpx.HTTPError as error:
        raise Unreachable(f"cannot reach the service at {args.url} ({error}); start it with "
                          "`hpadvisor serve` or pass --url") from None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    if 400 <= response.status_code < 500:
        raise UsageError(describe_problem(body))
    if response.status_code >= 500:
        raise Unreachable(f"the service failed ({response.status_code}): "
                          f"{describe_problem(body)}")
    return body


# --- submit ------------------------------------------------------------------------------------

def job_body(args: argparse.Namespace) -> dict[str, Any]:
    for flag in DATASET_FLAGS:
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag.replace('_', '-')}: a job's data set carries its own "
                             "profile; name it with --dataset")
    if args.no_flip:
        raise UsageError("--no-flip: a job's data set says whether flips are allowed")
    if not args.model and args.params_m is None:
        raise UsageError("--model: name the model to train (GET /v1/models, or the trial "
                         "runner's resnet20, small_cnn, ...)")
    training = {"batch_size": args.batch_size, "num_gpus": args.num_gpus, "epochs": args.epochs,
                "pretrained": args.pretrained, "goal": args.goal, "optimizer": args.optimizer,
                "augmentation": args.augmentation}
    model = {"name": args.model, "params_millions": args.params_m, "family": args.family}
    tune = [key.strip() for key in args.tune.split(",") if key.strip()] if args.tune else None
    return {"objective": args.objective, "dataset": args.dataset,
            "model": {k: v for k, v in model.items() if v is not None},
            "training": {k: v for k, v in training.items() if v is not None},
            "n_trials": args.trials, "timeout_s": args.timeout, "sampler": args.sampler,
            "pruner": args.pruner, "seed": args.seed, "tune": tune}


def run_submit(args: argparse.Namespace) -> int:
    job = request(args, "POST", "/v1/jobs", json=job_body(args))
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        print(job["id"])
    return 0


# --- jobs --------------------------------------------------------------------------------------

def _best(job: dict[str, Any]) -> str:
    best = job.get("best")
    if best:
        return f"best {best['value']:.4g} (trial {best['number']})"
    progress = job.get("progress") or {}
    value = progress.get("best_value")
    return f"best {value:.4g}" if isinstance(value, int | float) else "best -"


def progress_line(job: dict[str, Any]) -> str:
    """`job 3  running    trial 5/20 (4 done)  epoch 7/15  best 0.9812 (trial 3)`."""
    progress = job.get("progress") or {}
    done = job.get("trials_done", progress.get("trials_done", progress.get("trial", 0)))
    parts = [f"job {job['id']}", f"{job['state']:<9}", f"trial {done}/{job['n_trials']}"]
    if job["state"] == "running" and isinstance(progress.get("trial"), int):
        parts[-1] = f"trial {progress['trial']}/{job['n_trials']} ({done} done)"
    if job["state"] == "running" and progress.get("epoch") is not None:
        epochs = progress.get("epochs")
        parts.append(f"epoch {progress['epoch']}" + (f"/{epochs}" if epochs else ""))
    parts.append(_best(job))
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return "  ".join(parts)


def _params(params: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in params.items())


def job_report(job: dict[str, Any]) -> str:
    """The finished job's outcome: best trial, the advisor's rank, the best trial's diagnosis."""
    result = job.get("result") or {}
    lines = []
    best = result.get("best")
    if best:
        lines.append(f"best trial {best['trial_number']}: {best['value']:.4f}  "
                     f"{_params(best.get('params') or {})}")
    advisor = result.get("advisor") or {}
    if advisor.get("rank") is not None:
        lines.append(f"advisor's configuration (trial {advisor['trial_number']}): "
                     f"{advisor['value']:.4f}, rank {advisor['rank']} of "
                     f"{result['counts']['complete']} ({advisor['percentile']:g}th percentile)")
    elif advisor:
        lines.append(f"advisor's configuration (trial {advisor['trial_number']}): "
                     f"{advisor['state']}")
    diagnosis = result.get("diagnosis")
    if diagnosis:
        lines.append(f"diagnosis of the best trial: {diagnosis['state']} - "
                     f"{diagnosis['summary']}")
        lines += [f"  - {change['action']}" for change in diagnosis["changes"]]
    return "\n".join(lines)


def _show_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.state:
        params["state"] = args.state
    page = request(args, "GET", "/v1/jobs", params=params)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    if not page["items"]:
        print("no jobs" + (f" in state {args.state}" if args.state else ""))
    for job in page["items"]:
        print(f"{progress_line(job)}  {job['model']} on {job['dataset']}")
    if page["total"] > len(page["items"]):
        print(f"({len(page['items'])} of {page['total']}; --limit for more)")
    return 0


def _watch(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    tty = sys.stdout.isatty()
    last = ""
    while True:
        line = progress_line(job)
        if line != last:
            print(("\r\033[K" if tty else "") + line, end="" if tty else "\n", flush=True)
            last = line
        if job["state"] in FINAL_STATES:
            if tty:
                print()
            return job
        time.sleep(max(0.1, args.interval))
        job = request(args, "GET", f"/v1/jobs/{args.id}")


def run_jobs(args: argparse.Namespace) -> int:
    if args.id is None:
        if args.watch:
            raise UsageError("--watch: give the id of the job to watch")
        return _show_list(args)
    job = request(args, "GET", f"/v1/jobs/{args.id}")
    if args.watch:
        job = _watch(args, job) if not args.json else _poll(args, job)
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    if not args.watch:
        print(progress_line(job))
    if job["state"] in FINAL_STATES and job.get("result"):
        print(job_report(job))
    return 0


def _poll(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    while job["state"] not in FINAL_STATES:
        time.sleep(max(0.1, args.interval))
        job = request(args, "GET", f"/v1/jobs/{args.id}")
    return job
