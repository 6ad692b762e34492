"""Optuna's side of a job: the RDB storage on our database URL and the study per job.

Trials, parameters and per-epoch values live in Optuna's tables and are read only through
Optuna's storage API. A long-lived reader (the API process) wraps the storage in Optuna's own
`_CachedStorage`: the first read of a study loads its trials once, later reads fetch only trials
that are new or were unfinished, so a 10,000-trial study is not reloaded on every request.
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage, RDBStorage, _CachedStorage
from optuna.study import StudyDirection

from worker.store.db import begin_immediate, engine_kwargs

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: A study's user attribute naming the job it belongs to.
JOB_ID_ATTR = "hpadvisor_job_id"


def study_name_for(job_id: int) -> str:
    return f"hpadvisor-job-{job_id}"


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


def create_job_study(storage: BaseStorage, job_id: int) -> str:
    """Create the (maximising) study of job `job_id` and return its name."""
    name = study_name_for(job_id)
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE], name)
    storage.set_study_user_attr(study_id, JOB_ID_ATTR, job_id)
    return name
