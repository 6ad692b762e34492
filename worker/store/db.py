"""Engines and sessions for one database URL (ours and Optuna's tables together).

SQLite (the default, one file) gets WAL journaling and a busy timeout on every connection so the
API and workers can share the file; the workers' Optuna storage also starts every transaction with
`BEGIN IMMEDIATE` (see `begin_immediate`), so that its read-then-write is atomic across
processes; PostgreSQL (``postgresql+psycopg://...``) is for many workers on many hosts.
Migrations are in `worker.store.schema`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def redacted(url: str) -> str:
    """`url` as it may be logged: the password replaced by ***."""
    return make_url(url).render_as_string(hide_password=True)


def engine_kwargs(url: str) -> dict[str, Any]:
    """Keyword arguments for `create_engine` (also handed to Optuna's RDBStorage)."""
    if is_sqlite(url):
        return {"connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cursor.close()


def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 opens none itself; _begin_immediate does


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def begin_immediate(engine: Engine) -> Engine:
    """Make every transaction on a SQLite `engine` take the database's write lock first.

    Python's sqlite3 module opens a transaction only at the first INSERT/UPDATE, so a SELECT
    runs outside it and SQLite has no `SELECT ... FOR UPDATE`: two workers both read an
    enqueued trial as WAITING, both set it RUNNING, both run it, and the second dies telling it
    ("Cannot tell a COMPLETE trial", optuna#4002, optuna#4621). With `BEGIN IMMEDIATE` the read
    and the write of Optuna's pop (and of its stale-trial check, and of every other
    check-then-set) are one serialised transaction.

    Only for an engine whose transactions are short and never wait on another connection of the
    same process: a read holds the write lock too, so a process that keeps one transaction open
    while another connection of its own begins one waits on itself (the API reads our job table
    and Optuna's in one request; it does not get this). Used by the workers' and the storage
    proxy's Optuna storage. Does nothing on other databases; pooled connections are dropped
    so that every connection gets it."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _own_transactions)
        event.listen(engine, "begin", _begin_immediate)
        engine.dispose()
    return engine


def make_engine(url: str) -> Engine:
    """An engine for `url`: WAL and busy timeout on SQLite, pre-ping on PostgreSQL."""
    engine = create_engine(url, **engine_kwargs(url))
    if is_sqlite(url):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block succeeds, roll back when it raises."""
    with factory() as session, session.begin():
        yield session


def answers(session: Session) -> bool:
    """Whether the database answers a trivial query now (the service's health check)."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
