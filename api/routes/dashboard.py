"""The dashboard: server-rendered pages, their HTML fragments and figures, and static files.

Each route calls one plain function of `api.dashboard.views` and renders a template (Jinja2,
autoescaped: nothing a client wrote is ever rendered unescaped). Static files, plotly.js
included, are served by this app from the installed packages: the pages work offline. Every
response carries a Content-Security-Policy that allows this origin only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.dashboard import figures, filters, views
from api.deps import SessionDep, StorageDep
from worker.errors import JobNotFound
from worker.schemas import JobState

router = APIRouter(include_in_schema=False, tags=["dashboard"])

HERE = Path(__file__).resolve().parents[1]
_environment = Environment(loader=FileSystemLoader(HERE / "templates"),
                           autoescape=select_autoescape(default=True, default_for_string=True))
filters.install(_environment)
templates = Jinja2Templates(env=_environment)

#: Same origin only; Plotly injects style elements and its WebGL plots compile shaders.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}

JobId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
Page = Annotated[int, Query(ge=1, le=2**31 - 1)]


def _plotly_js() -> Path:
    import plotly  # type: ignore[import-untyped]

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


STATIC: dict[str, tuple[Path, str]] = {
    "dashboard.css": (HERE / "static" / "dashboard.css", "text/css"),
    "dashboard.js": (HERE / "static" / "dashboard.js", "text/javascript"),
    "plotly.min.js": (_plotly_js(), "text/javascript"),
}


def _render(request: Request, name: str, context: dict[str, Any],
            status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status_code,
                                          headers=HEADERS)
    assert isinstance(response, HTMLResponse)
    return response


def _not_found(request: Request, error: JobNotFound) -> HTMLResponse:
    return _render(request, "not_found.html", {"message": str(error)}, 404)


@router.get("/", response_class=HTMLResponse)
def jobs(request: Request, session: SessionDep, state: JobState | None = None,
         page: Page = 1) -> HTMLResponse:
    return _render(request, "jobs.html", {"view": views.jobs_page(session, state, page)})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, job_id: JobId, session: SessionDep, sort: str = "number",
        order: str = "asc", page: Page = 1) -> HTMLResponse:
    try:
        view = views.job_page(session, job_id, sort, order, page)
    except JobNotFound as error:
        return _not_found(request, error)
    return _render(request, "job.html", {"view": view})


@router.get("/jobs/{job_id}/summary")
def job_summary(job_id: JobId, session: SessionDep) -> JSONResponse:
    """What the job page polls (JSON): state, progress, counts, best, the advisor's rank."""
    return JSONResponse(views.summary(session, job_id), headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/trials", response_class=HTMLResponse)
def job_trials(request: Request, job_id: JobId, session: SessionDep, sort: str = "number",
               order: str = "asc", page: Page = 1) -> HTMLResponse:
    """The trials table (an HTML fragment): one page, sorted in the database."""
    job_row = views.load_job(session, job_id)
    table = views.trials_table(session, job_row, sort, order, page)
    return _render(request, "_trials.html", {"job": job_row, "trials": table,
                                             "sort_keys": views.sort_keys(job_row)})


@router.get("/jobs/{job_id}/outcome", response_class=HTMLResponse)
def job_outcome(request: Request, job_id: JobId, session: SessionDep) -> HTMLResponse:
    """The best trial against the advisor's configuration, and its diagnosis (a fragment)."""
    job_row = views.load_job(session, job_id)
    return _render(request, "_outcome.html", {"job": job_row,
                                              "outcome": views.outcome(session, job_row)})


@router.get("/jobs/{job_id}/plots/{name}")
def job_plot(job_id: JobId, name: str, session: SessionDep, storage: StorageDep,
             trial: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None) -> JSONResponse:
    """One figure as Plotly JSON (``{"figure": ...}``), or ``{"message": ...}`` when the
    study has too few trials for it."""
    if name not in figures.PLOT_NAMES:
        known = ", ".join(figures.PLOT_NAMES)
        known = ", ".join(figures.PLOT_NAMES)
        return JSONResponse({"detail": [{"loc": ["path", "name"], "type": "value_error",
                                         "msg": f"unknown plot; one of {known}"}]},
                            status_code=404)
    return JSONResponse(views.plot(session, storage, job_id, name, trial),
                        headers={"Cache-Control": "no-store"})


@router.get("/recommend", response_class=HTMLResponse)
def recommend(request: Request, session: SessionDep) -> HTMLResponse:
    """A profile in a form (GET, so the answer has its own address), the explained answer, and
    a form that submits it as a tuning job to ``POST /v1/jobs``."""
    form = {key: value for key, value in request.query_params.items()
            if key in views.PROFILE_FIELDS}
    keys_required = bool(request.app.state.settings.api_keys)
    return _render(request, "recommend.html",
                   {"view": views.recommend_page(session, form, keys_required)})


@router.get("/evidence", response_class=HTMLResponse)
def evidence(request: Request, session: SessionDep, page: Page = 1) -> HTMLResponse:
    return _render(request, "evidence.html", {"view": views.evidence_page(session, page)})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's own CSS and JS, and plotly.js from the installed `plotly` package."""
    found = STATIC.get(name)
    if found is None:
        return Response(status_code=404)
    path, media_type = found
    return FileResponse(path, media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400"})
