"""Alembic environment for the job store; run through `worker.store.upgrade(url)`."""

from __future__ import annotations

from alembic import context

from worker.store.db import make_engine
from worker.store.models import Base
from worker.store.schema import VERSION_TABLE, include_our_objects

config = context.config


def run_migrations_online() -> None:
    engine = make_engine(config.attributes["url"])
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                version_table=VERSION_TABLE,
                include_object=include_our_objects,
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("hpadvisor's migrations run online only: `hpadvisor db upgrade`")
run_migrations_online()
