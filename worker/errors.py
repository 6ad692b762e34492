"""Errors the job functions raise for things a client got wrong; the API maps them to 4xx."""

from __future__ import annotations

from collections.abc import Sequence


class JobError(Exception):
    """Base class: a request the job store refuses."""


class FieldError(JobError):
    """One field of the request is wrong: where (`loc`), why, and close allowed values."""

    def __init__(self, loc: Sequence[str | int], message: str,
                 suggestions: Sequence[str] = ()) -> None:
        self.loc = tuple(loc)
        self.message = message
        self.suggestions = list(suggestions)
        super().__init__(f"{'.'.join(map(str, self.loc))}: {message}")


class JobNotFound(JobError):
    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        super().__init__(f"no job with id {job_id}")


class JobConflict(JobError):
    """The job's state forbids the operation (e.g. cancelling a finished job)."""

    def __init__(self, job_id: int, state: str, message: str) -> None:
        self.job_id = job_id
        self.state = state
        super().__init__(message)
