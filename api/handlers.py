"""Exception handlers: every client error gets a 4xx in FastAPI's validation-error shape.

``{"detail": [{"loc": ["body", "model", "name"], "msg": "...", "type": "value_error"}]}`` -
the same shape FastAPI gives a body that fails validation, so a client reads one format. Server
faults answer 500 (or 503 when the database is unreachable) without a traceback. A method the
path does not serve answers 405 with an ``Allow`` header that lists every method it does serve.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from advisor import AdvisorInputError
from worker.errors import FieldError, JobConflict, JobNotFound
from worker.evidence import EvidenceNotFound

log = logging.getLogger("hpadvisor.api")


def problem(status: int, loc: Sequence[str | int], msg: str, type_: str = "value_error",
            suggestions: Sequence[str] = ()) -> JSONResponse:
    item: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": type_}
    if suggestions:
        item["ctx"] = {"suggestions": list(suggestions)}
    return JSONResponse({"detail": [item]}, status_code=status)


def _finite(value: Any) -> Any:
    """JSON-safe copy: non-finite floats (a client may send 1e400) become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


async def _validation(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own 422, made safe for inputs that strict JSON cannot hold."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": _finite(jsonable_encoder(error.errors()))}, status_code=422)


#: The methods ``Allow`` can list, in the order it lists them.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path. Starlette names only the methods
    of the first route whose path matched (``OPTIONS /v1/jobs`` got ``Allow: POST``, not
    ``GET, POST``); this asks every route, through FastAPI's included routers, whether it would
    take the same request with each method."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _http(request: Request, error: Exception) -> Response:
    """Starlette's HTTP errors as FastAPI answers them, with a complete ``Allow`` on 405."""
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        headers = {**(error.headers or {}), "Allow": ", ".join(allowed_methods(request))}
        error = HTTPException(405, error.detail, headers)
    return await http_exception_handler(request, error)


async def _advisor_input(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AdvisorInputError)
    return problem(422, ("body", *error.field.split(".")), error.message,
                   suggestions=error.suggestions)


async def _field(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, FieldError)
    return problem(422, error.loc, error.message, suggestions=error.suggestions)


async def _not_found(request: Request, error: Exception) -> JSONResponse:
    return problem(404, ("path", "job_id"), str(error), "not_found")


async def _evidence_not_found(request: Request, error: Exception) -> JSONResponse:
    return problem(404, ("path", "evidence_id"), str(error), "not_found")


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    return problem(409, ("path", "job_id"), str(error), "conflict")


async def _database_down(request: Request, error: Exception) -> JSONResponse:
    log.error("database error: %s", error)
    return JSONResponse({"detail": "the database is unavailable; try again"}, status_code=503)


async def _internal(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(AdvisorInputError, _advisor_input)
    app.add_exception_handler(FieldError, _field)
    app.add_exception_handler(JobNotFound, _not_found)
    app.add_exception_handler(EvidenceNotFound, _evidence_not_found)
    app.add_exception_handler(JobConflict, _conflict)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _internal)
