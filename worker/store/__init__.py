"""The job store: SQLAlchemy 2 models for our tables, the engine factory, and `upgrade` (ours
and Optuna's schemas).

Optuna's RDB storage lives in the same database (same URL); trials, parameters and intermediate
values are Optuna's tables and are read through Optuna's API, never copied here.
"""

from worker.states import FINAL_STATES, JOB_STATES
from worker.store.db import make_engine, make_sessionmaker, redacted, session_scope
from worker.store.models import Base, Evidence, Job, RegisteredName
from worker.store.schema import include_our_objects, upgrade

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "Base",
    "Evidence",
    "Job",
    "RegisteredName",
    "include_our_objects",
    "make_engine",
    "make_sessionmaker",
    "redacted",
    "session_scope",
    "upgrade",
]
