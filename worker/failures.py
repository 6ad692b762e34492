"""Which errors are the database's, and errors as one line: how a worker tells a lost database
(wait for it) from everything else (fail the trial or the job, go on)."""

from __future__ import annotations

import grpc
from optuna.exceptions import StorageInternalError
from sqlalchemy.exc import OperationalError

#: How often the same thing is tried again before it counts as failed: a dead worker's trial
#: re-run, a trial's parameters re-queued after an error outside its objective, a job that
#: broke the worker's turn in a row.
MAX_RETRIES = 3
#: A lost connection (the database restarted, the network dropped, the storage proxy went
#: away): the worker waits and goes on, with a growing pause, `Settings.db_retries` times in a
#: row at most; then it exits with the error.
DB_ERRORS = (OperationalError, StorageInternalError, grpc.RpcError)


def database_error(error: BaseException) -> BaseException | None:
    """The database error behind `error`, possibly as the cause of another (Optuna's `tell`
    can fail with an UnboundLocalError while handling a lost connection), or None."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, DB_ERRORS):
            return current
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
    return None


def one_line(error: BaseException) -> str:
    """`error` as its type and the first line of its message."""
    return f"{type(error).__name__}: {first_line(error)}"


def first_line(error: BaseException) -> str:
    """The first line of `error`'s message (at most 200 characters), or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
