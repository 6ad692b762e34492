"""Alembic migrations for the job store (see `worker.store.schema.upgrade`)."""
