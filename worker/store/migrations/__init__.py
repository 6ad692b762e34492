"""Alembic migrations for the job store (see `worker.store.db.upgrade`)."""
