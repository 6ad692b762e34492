"""The `hpadvisor` command line: one sub-command module per area, each with a `register`.

Bad input exits with status 2 and a message naming the field and what is allowed; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from api.commands import COMMAND_MODULES
from api.errors import UsageError

__all__ = ["UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpadvisor",
        description="Explained hyperparameters for image classifiers, and tuning jobs that "
        "prove them.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
