"""The error answers the routes can give besides FastAPI's 422, declared in the OpenAPI document.

Each constant is a `responses=` entry for a route or router, so that the document lists every
status a client can receive (schemathesis checks this against the running server in
``tests/api/test_hostile_schemathesis.py``). Client errors share FastAPI's validation-error
shape (see `api.handlers`); server faults carry one line.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ProblemItem(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is: body, query, path, header.")
    msg: str
    type: str
    ctx: dict[str, Any] | None = Field(default=None, description="e.g. close suggestions.")


class Problem(BaseModel):
    """A client error: the same shape as FastAPI's 422."""

    detail: list[ProblemItem]


class ServerProblem(BaseModel):
    """A server fault, without internals."""

    detail: str


Responses = dict[int | str, dict[str, Any]]

UNAUTHORIZED: Responses = {401: {"model": Problem, "description": "API key missing or not "
                                 "valid (only when the server has HPADVISOR_API_KEYS)"}}
NOT_FOUND: Responses = {404: {"model": Problem, "description": "No such id"}}
CONFLICT: Responses = {409: {"model": Problem, "description": "The job already finished"}}
TOO_LARGE: Responses = {413: {"model": Problem, "description": "Body over "
                              "HPADVISOR_MAX_BODY_BYTES"}}
UNAVAILABLE: Responses = {503: {"model": ServerProblem,
                                "description": "The database is unreachable; try again"}}
BAD_BODY: Responses = {400: {"model": ServerProblem, "description": "The body could not be "
                             "read at all (e.g. bytes that are not text); FastAPI answers "
                             "before validation"}}
#: A mutating route that takes a body: key, size, unreadable body, database.
MUTATING: Responses = {**UNAUTHORIZED, **TOO_LARGE, **BAD_BODY, **UNAVAILABLE}


def invalid(rules: str) -> Responses:
    """The 422 of an operation whose body has rules beyond what its JSON schema can state (they
    depend on the catalog's spellings, on what workers registered, or compare two fields):
    `rules` says which. ``schemathesis.toml`` allows a 422 to a schema-valid body on exactly
    these operations, and the suite checks that such a 422 names one of these fields."""
    return {422: {"model": Problem, "description": "A field is missing, of the wrong type or "
                  f"out of range (the schema states these), or {rules}. `loc` names the field; "
                  "`ctx.suggestions` lists close names where there are any."}}
