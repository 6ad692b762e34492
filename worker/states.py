"""The job-state vocabulary: every state a tuning job can be in, defined once.

A job is ``queued`` when created, ``running`` once a worker claims its first trial, and ends
``succeeded`` (at least one trial completed), ``failed`` or ``cancelled``. The store's check
constraint, the API's schemas and query parameters, the worker's claims and the command line's
``--state`` choices all read these names from here; the stored values are these strings.
"""

from __future__ import annotations

from typing import Literal, get_args

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
#: Every state, in the order a job moves through them.
JOB_STATES: tuple[JobState, ...] = get_args(JobState)
#: States a worker may still claim trials in, or a client may cancel.
ACTIVE_STATES: tuple[JobState, ...] = ("queued", "running")
#: States a job never leaves.
FINAL_STATES: tuple[JobState, ...] = ("succeeded", "failed", "cancelled")

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "JOB_STATES", "JobState"]
