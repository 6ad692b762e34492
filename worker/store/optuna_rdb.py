"""Optuna's RDB storage on our database URL (the same database as our tables).

A long-lived reader (the API process) wraps the storage in Optuna's own `_CachedStorage`: the
first read of a study loads its trials once, later reads fetch only trials that are new or were
unfinished, so a 10,000-trial study is not reloaded on every request. Workers use
`worker.trial_storage`, which adds to the same storage what they need.
"""

from __future__ import annotations

from optuna.storages import BaseStorage, RDBStorage, _CachedStorage

from worker.store.db import begin_immediate, engine_kwargs


def make_storage(url: str, *, immediate: bool = False) -> RDBStorage:
    """Optuna's RDB storage on `url` (creates or checks Optuna's tables). `immediate`: SQLite
    transactions take the write lock at once, so that no two processes pop the same trial (for
    the storage proxy; see `worker.store.db.begin_immediate` for who must not)."""
    storage = RDBStorage(url, engine_kwargs=engine_kwargs(url))
    if immediate:
        begin_immediate(storage.engine)
    return storage


def cached(storage: RDBStorage) -> BaseStorage:
    """Optuna's read cache over `storage`, for a process that reads studies repeatedly."""
    return _CachedStorage(storage)
