"""Optuna's side of a job: the study per job, its name and the attribute naming its job.

Trials, parameters and per-epoch values live in Optuna's tables and are read only through
Optuna's storage API (the storage itself: `worker.store.optuna_rdb`).
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: A study's user attribute naming the job it belongs to.
JOB_ID_ATTR = "hpadvisor_job_id"


def study_name_for(job_id: int) -> str:
    return f"hpadvisor-job-{job_id}"


def create_job_study(storage: BaseStorage, job_id: int) -> str:
    """Create the (maximising) study of job `job_id` and return its name."""
    name = study_name_for(job_id)
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE], name)
    storage.set_study_user_attr(study_id, JOB_ID_ATTR, job_id)
    return name
