"""`hpadvisor serve` and `hpadvisor db upgrade`: the HTTP API and its database.

Both migrate the job store first; `serve --workers N` runs N uvicorn processes on one socket.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from api.errors import UsageError
from worker.settings import Settings

# --- registration ------------------------------------------------------------------------------

def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             settings: Settings) -> None:
    serve = subparsers.add_parser("serve", help="run the HTTP API (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1,
                       help="uvicorn worker processes (default 1)")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                       help="log every request (default: on)")
    serve.add_argument("--log-json", action="store_true", default=settings.log_json,
                       help="log one JSON object per line (time, level, logger, message, ...; "
                       "default: $HPADVISOR_LOG_JSON)")
    _database_argument(serve)
    serve.set_defaults(handler=run_serve)

    db = subparsers.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply the job store's migrations")
    _database_argument(upgrade)
    upgrade.set_defaults(handler=run_db_upgrade)


def _database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: "
                        "$HPADVISOR_DATABASE_URL or sqlite:///./hpadvisor.db)")


# --- serve, db upgrade -------------------------------------------------------------------------

def _database_url(args: argparse.Namespace) -> str:
    return str(args.database_url or args.settings.database_url)


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
    import uvicorn

    from api import logs
    from api.app import create_app

    if args.workers < 1:
        raise UsageError("--workers: must be at least 1")
    if args.log_json:
        logs.setup(json_lines=True)
    url = _database_url(args)
    _migrate(url)
    settings = args.settings.model_copy(update={"database_url": url, "log_json": args.log_json})
    log_config = logs.UVICORN_LOG_CONFIG if args.log_json else uvicorn.config.LOGGING_CONFIG
    options = {"host": args.host, "port": args.port, "log_config": log_config,
               "access_log": args.access_log}
    if args.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return 0
    # Several processes need an import string; each reads its settings from the environment.
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
