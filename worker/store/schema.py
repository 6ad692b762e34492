"""The database's two schemas brought up to date in one place: our tables by Alembic
revisions shipped inside this package, then Optuna's tables by Optuna itself.

Our version table is `hpadvisor_alembic_version` because Optuna keeps its own schema version in
Alembic's default `alembic_version`. `upgrade` is safe from many processes at once (a
PostgreSQL advisory lock, or a lock file beside a SQLite file).
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from worker.store.db import is_sqlite
from worker.store.optuna_rdb import make_storage

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "hpadvisor_alembic_version"
#: The PostgreSQL advisory-lock key that serialises migrations ("hpad" in ASCII).
MIGRATION_LOCK = 0x68706164


def alembic_config(url: str) -> Config:
    """Alembic's configuration in code (no alembic.ini): our scripts, the URL as an attribute."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url  # not a main option: '%' in a password breaks interpolation
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring our tables to `revision`, then let Optuna create or check its own tables.

    Safe to call from many processes at once (workers on several hosts starting together on a
    new database): one migrates while the others wait, then find nothing left to do."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), revision)
        make_storage(url).engine.dispose()


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """Hold the database's migration lock: a session advisory lock on PostgreSQL (so every
    schema of one database shares it), an exclusive lock on a file beside a SQLite file."""
    if is_sqlite(url):
        database = make_url(url).database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
        return
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()




def include_our_objects(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic filter: tables that exist in the database but not in our models are Optuna's."""
    return not (type_ == "table" and reflected and compare_to is None)
