"""The job page's figures, as Plotly JSON: Optuna's own plots plus one training-curves chart.

Each of Optuna's plots runs over an in-memory copy of a bounded sample of the study (see
`queries.sample_trials`): every trial up to the plot's cap (`SAMPLE_CAPS`, 100 to 1,000), beyond
that the best fifth of the cap, the advisor's and an even spread, and the caption says so. A
study with too few trials for a plot gets a message instead of a figure (never an error). The
training curves are the per-epoch train and validation accuracy (and loss) that the trial
runner stores on each trial (user attr `curves`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
import plotly.graph_objects as go  # type: ignore[import-untyped]
from optuna.trial import FrozenTrial, TrialState
from optuna.visualization import (
    plot_contour,
    plot_intermediate_values,
    plot_optimization_history,
    plot_parallel_coordinate,
    plot_param_importances,
    plot_slice,
)

log = logging.getLogger("hpadvisor.dashboard")

#: Colours shared with the stylesheet: completed, pruned, the advisor's trial.
COMPLETE_COLOUR = "#2b6cb0"
PRUNED_COLOUR = "#c05621"
ADVISOR_COLOUR = "#2f855a"


@dataclass(frozen=True)
class Plot:
    name: str
    title: str
    help: str


PLOTS: tuple[Plot, ...] = (
    Plot("history", "Optimization history",
         "Each completed trial's validation accuracy and the best so far."),
    Plot("intermediate", "Intermediate values",
         "Validation accuracy per epoch; pruned trials (orange, dotted) stop early."),
    Plot("parallel", "Parallel coordinates",
         "Each line a completed trial through its parameter values to its accuracy."),
    Plot("importances", "Parameter importances",
         "How much of the variation in accuracy each parameter explains (fANOVA)."),
    Plot("slice", "Slice", "Accuracy against each parameter on its own."),
    Plot("contour", "Contour of the two most important parameters",
         "Accuracy over the plane of the two parameters that matter most."),
    Plot("curves", "Training curves",
         "Train and validation accuracy per epoch of the chosen trial."),
)
PLOT_NAMES = tuple(plot.name for plot in PLOTS)

#: Trials drawn per plot at most. Plots with one trace per trial (intermediate values) or one
#: line per trial (parallel coordinates), the fANOVA fit and the contour's interpolation grow
#: with trials in the browser or on the server, so they take fewer; see bench/RESULTS.md.
DEFAULT_CAP = 1000
SAMPLE_CAPS = {"history": 1000, "slice": 1000, "intermediate": 100, "parallel": 300,
               "importances": 300, "contour": 300}


class NotEnough(Exception):
    """The study does not have what this plot needs yet; the message says what is missing."""


def in_memory_study(trials: list[FrozenTrial]) -> optuna.Study:
    """A maximising in-memory study holding `trials` (Optuna's plots take a `Study`)."""
    study = optuna.create_study(direction="maximize")
    study.add_trials(trials)
    return study


def _complete(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def _need_complete(trials: list[FrozenTrial], n: int, what: str) -> list[FrozenTrial]:
    complete = _complete(trials)
    if len(complete) < n:
        raise NotEnough(f"{what} needs at least {n} completed trial{'s' * (n > 1)}; "
                        f"{len(complete)} so far.")
    return complete


def _varied_params(complete: list[FrozenTrial]) -> list[str]:
    """Parameters that took more than one value among completed trials."""
    names = sorted({name for t in complete for name in t.params})
    return [n for n in names if len({repr(t.params.get(n)) for t in complete}) > 1]


def _history(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    _need_complete(trials, 1, "The optimization history")
    return plot_optimization_history(study, target_name="validation accuracy")


def _intermediate(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    if not any(t.intermediate_values for t in trials):
        raise NotEnough("No trial has reported an epoch yet.")
    figure = plot_intermediate_values(study)
    pruned = {t.number for t in trials if t.state == TrialState.PRUNED}
    for trace in figure.data:
        number = int(str(trace.name).removeprefix("Trial")) if trace.name else -1
        if number in pruned:
            trace.update(name=f"Trial{number} (pruned)", opacity=0.9,
                         line={"dash": "dot", "color": PRUNED_COLOUR},
                         marker={"color": PRUNED_COLOUR})
    figure.update_layout(yaxis_title="validation accuracy", xaxis_title="epoch (step)")
    return figure


def _parallel(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    complete = _need_complete(trials, 2, "Parallel coordinates")
    if not _varied_params(complete):
        raise NotEnough("Parallel coordinates need a parameter that varies between trials.")
    return plot_parallel_coordinate(study, target_name="accuracy")


def _importances(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    complete = _need_complete(trials, 3, "Parameter importances")
    if not _varied_params(complete):
        raise NotEnough("Importances need a parameter that varies between trials.")
    return plot_param_importances(study, target_name="validation accuracy")


def _slice(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
    _need_complete(trials, 1, "The slice plot")
    return plot_slice(study, target_name="accuracy")


def top_two(trials: list[FrozenTrial], importances: dict[str, float] | None) -> list[str]:
    """The two most important parameters: from the job's result when it has them, else
    from Optuna's importance evaluator over the sample."""
    complete = _complete(trials)
    varied = _varied_params(complete)
    if len(varied) < 2:
        raise NotEnough("The contour needs two parameters that vary between trials.")
    ranked = [name for name in (importances or {}) if name in varied]
    if len(ranked) < 2:
        computed = optuna.importance.get_param_importances(in_memory_study(complete),
                                                           params=varied)
        ranked = list(computed)
    return ranked[:2]


def _contour_with(importances: dict[str, float] | None) -> Callable[..., go.Figure]:
    def contour(study: optuna.Study, trials: list[FrozenTrial]) -> go.Figure:
        _need_complete(trials, 3, "The contour")
        first, second = top_two(trials, importances)
        return plot_contour(study, params=[first, second], target_name="accuracy")
    return contour


def optuna_figure(name: str, trials: list[FrozenTrial], total: int,
                  importances: dict[str, float] | None = None) -> dict[str, Any]:
    """``{"figure": <plotly JSON>, "note": ...}`` or ``{"message": ...}`` for plot `name`."""
    makers: dict[str, Callable[[optuna.Study, list[FrozenTrial]], go.Figure]] = {
        "history": _history, "intermediate": _intermediate, "parallel": _parallel,
        "importances": _importances, "slice": _slice, "contour": _contour_with(importances)}
    if not trials:
        return {"message": "No trials yet: the plots appear once a worker has run some."}
    try:
        figure = makers[name](in_memory_study(trials), trials)
    except NotEnough as missing:
        return {"message": str(missing)}
    except (ValueError, RuntimeError) as error:  # Optuna refuses degenerate studies
        log.info("plot %s: %s", name, error)
        return {"message": f"Optuna cannot draw this plot for this study yet: {error}"}
    note = None
    if len(trials) < total:
        note = (f"Drawn from a sample of {len(trials):,} of {total:,} trials: the best, the "
                "advisor's and an even spread by trial number.")
    return {"figure": _tidy(figure), "note": note}


def curves_figure(number: int, curves: Any) -> dict[str, Any]:
    """Train and validation accuracy per epoch of trial `number` (loss on a second axis)."""
    if not isinstance(curves, dict) or not curves.get("val_accuracy"):
        return {"message": f"Trial {number} has no per-epoch curves (yet)."}
    figure = go.Figure()
    styles = (("train_accuracy", "train accuracy", COMPLETE_COLOUR, "solid", "y"),
              ("val_accuracy", "validation accuracy", ADVISOR_COLOUR, "solid", "y"),
              ("train_loss", "train loss", COMPLETE_COLOUR, "dot", "y2"),
              ("val_loss", "validation loss", ADVISOR_COLOUR, "dot", "y2"))
    for key, label, colour, dash, axis in styles:
        values = curves.get(key)
        if values:
            figure.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values,
                                        mode="lines+markers", name=label, yaxis=axis,
                                        line={"color": colour, "dash": dash}))
    figure.update_layout(xaxis_title=f"epoch of trial {number}",
                         yaxis={"title": "accuracy"},
                         yaxis2={"title": "loss", "overlaying": "y", "side": "right",
                                 "showgrid": False})
    return {"figure": _tidy(figure), "note": None}


def _tidy(figure: go.Figure) -> Any:
    """Plain JSON with the fonts pinned to the system's (no web font is ever fetched)."""
    figure.update_layout(font={"family": "system-ui, -apple-system, Segoe UI, Roboto, "
                                         "Helvetica, Arial, sans-serif", "size": 12},
                         title={"text": ""}, margin={"l": 60, "r": 20, "t": 20, "b": 50},
                         template="plotly_white", width=None, height=None)
    return json.loads(figure.to_json())
