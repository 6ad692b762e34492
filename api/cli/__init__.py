"""The `hpadvisor` command line: the parser and `main`; one module per command group.

Each module of this package exposes `register(subparsers)`; a sub-command sets `handler` (a
function of the parsed arguments returning the exit status). `python -m api.cli` runs `main`.

Bad input exits with status 2 and a message naming the field and what is allowed; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from api.cli import advice, evidence, jobs, serve, worker
from api.errors import UsageError
from worker.settings import Settings

__all__ = ["UsageError", "build_parser", "main"]

#: In the order `hpadvisor --help` lists them.
COMMAND_MODULES = (advice, serve, jobs, worker, evidence)


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    """The parser; flags default to `settings` (read from the environment when not given),
    which every handler also finds as ``args.settings``."""
    settings = settings if settings is not None else Settings.from_env()
    parser = argparse.ArgumentParser(
        prog="hpadvisor",
        description="Explained hyperparameters for image classifiers, and tuning jobs that "
        "prove them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers, settings)
    parser.set_defaults(settings=settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ValueError as error:
        print(f"hpadvisor: error: {error}", file=sys.stderr)
        return 2
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as error:
        parser.exit(2, f"hpadvisor: error: {error}\n")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`hpadvisor recommend ... | head`): stop quietly, and keep the
        # interpreter from complaining while it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
