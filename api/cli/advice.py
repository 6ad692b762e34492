"""`hpadvisor recommend`, `diagnose` and `rules`: the advisor from the command line, in process
(no server needed; `recommend --url` asks the service instead)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from advisor import AdvisorInputError, diagnose, recommend
from advisor.schemas import Curves, Diagnosis, Recommendation
from api.cli.client import Unreachable, request
from api.cli.profile import add_profile_arguments, profile_from_args
from api.errors import UsageError
from api.rulebook import rule_views, rules_markdown
from worker.settings import Settings

CSV_COLUMNS = {
    "train_accuracy": ("train_accuracy", "train_acc", "train_acc1", "train_top1"),
    "val_accuracy": ("val_accuracy", "val_acc", "val_acc1", "val_top1", "test_acc"),
    "train_loss": ("train_loss",),
    "val_loss": ("val_loss", "test_loss"),
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             settings: Settings) -> None:
    rec = subparsers.add_parser("recommend", help="explained hyperparameters for a profile")
    add_profile_arguments(rec)
    rec.add_argument("--json", action="store_true", help="print the recommendation as JSON")
    rec.add_argument("--url", help="ask the service at URL instead of the advisor in this "
                     "process: its answer is calibrated by the evidence of finished studies")
    rec.add_argument("--api-key", default=settings.api_key,
                     help="API key for --url (default: $HPADVISOR_API_KEY)")
    rec.add_argument("--no-evidence", action="store_true",
                     help="with --url: the rules alone, without calibration by evidence")
    rec.set_defaults(handler=run_recommend)

    diag = subparsers.add_parser("diagnose", help="read train/val curves and say what to change")
    diag.add_argument("file", help="JSON or CSV of per-epoch accuracies ('-' for stdin)")
    diag.add_argument("--config", help="JSON file of the hyperparameters the run used")
    diag.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    diag.set_defaults(handler=run_diagnose)

    rules = subparsers.add_parser("rules", help="the rule registry (Markdown table or JSON)")
    rules.add_argument("--json", action="store_true")
    rules.set_defaults(handler=run_rules)


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem: the field's dotted path and what is allowed."""
    lines = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "input"
        lines.append(f"{field}: {problem['msg']}")
    return "; ".join(lines)


def run_recommend(args: argparse.Namespace) -> int:
    if not args.model and args.params_m is None:
        raise UsageError("--model: give a model name (or --params-m with its size)")
    if args.url:
        return _recommend_from_service(args)
    if args.no_evidence:
        raise UsageError("--no-evidence: only meaningful with --url (in process there is no "
                         "evidence)")
    try:
        recommendation = recommend(profile_from_args(args))
    except ValidationError as error:
        raise UsageError(describe_validation_error(error)) from None
    except AdvisorInputError as error:
        raise UsageError(str(error).replace("model.name", "--model", 1)) from None
    if args.json:
        print(recommendation.model_dump_json(indent=2))
    else:
        print(render_recommendation(recommendation))
    return 0


def _recommend_from_service(args: argparse.Namespace) -> int:
    body = {**profile_from_args(args), "use_evidence": not args.no_evidence}
    try:
        answer = request(args, "POST", "/v1/recommendations", json=body)
    except Unreachable as error:
        print(f"hpadvisor: error: {error}", file=sys.stderr)
        return 1
    recommendation = Recommendation.model_validate(answer)
    print(recommendation.model_dump_json(indent=2) if args.json
          else render_recommendation(recommendation))
    return 0


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def render_recommendation(rec: Recommendation) -> str:
    width = max(len(e.key) for e in rec.explanations)
    value_width = min(22, max(len(_show(e.value)) for e in rec.explanations))
    out = [f"{rec.model} ({rec.params_millions:g}M parameters"
           + (f", {rec.model_family}" if rec.model_family else "") + ")", ""]
    out.append(f"{'key':<{width}}  {'value':<{value_width}}  rule")
    for e in rec.explanations:
        out.append(f"{e.key:<{width}}  {_show(e.value):<{value_width}}  {e.rule}")
        indent = " " * (width + 2)
        out.extend(textwrap.wrap(e.reason, 96, initial_indent=indent, subsequent_indent=indent))
    if rec.advice:
        out += ["", "advice:"]
        out += [textwrap.fill(f"- {a.text} [{a.id}]", 100, subsequent_indent="  ")
                for a in rec.advice]
    if rec.rule_based:
        out += ["", "calibrated by evidence (the rules alone gave: "
                + ", ".join(f"{k} {_show(v)}" for k, v in rec.rule_based.items()) + ")"]
    if rec.warnings:
        out += ["", "warnings:"] + [f"- {w}" for w in rec.warnings]
    return "\n".join(out)


def read_curves(path: str, config_path: str | None) -> Curves:
    text = sys.stdin.read() if path == "-" else _read(path, "FILE")
    data = _parse_curves(text, path)
    if config_path:
        try:
            data["config"] = json.loads(_read(config_path, "--config"))
        except json.JSONDecodeError as error:
            raise UsageError(f"--config: not valid JSON ({error})") from None
    try:
        return Curves.model_validate(data)
    except ValidationError as error:
        raise UsageError(describe_validation_error(error)) from None


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise UsageError(f"{what}: cannot read {path}: {error.strerror}") from None


def _parse_curves(text: str, path: str) -> dict[str, Any]:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"FILE: {path} is not valid JSON ({error})") from None
        if isinstance(data, list):  # one object per epoch
            return _columns(data, path)
        if not isinstance(data, dict):
            raise UsageError("FILE: expected a JSON object with train_accuracy and val_accuracy")
        return data
    return _columns(list(csv.DictReader(io.StringIO(text))), path)


def _columns(rows: list[dict[str, Any]], path: str) -> dict[str, Any]:
    if not rows or not isinstance(rows[0], dict):
        raise UsageError(f"FILE: {path} has no epochs")
    data: dict[str, Any] = {}
    for key, names in CSV_COLUMNS.items():
        name = next((n for n in names if n in rows[0]), None)
        if name is None:
            continue
        try:
            data[key] = [float(row[name]) for row in rows]
        except (TypeError, ValueError):
            raise UsageError(f"FILE: column {name} must hold numbers") from None
    missing = [k for k in ("train_accuracy", "val_accuracy") if k not in data]
    if missing:
        raise UsageError(f"FILE: missing column(s) {', '.join(missing)}; allowed names: "
                         + ", ".join(n for k in missing for n in CSV_COLUMNS[k]))
    return data


def render_diagnosis(diagnosis: Diagnosis) -> str:
    ev = diagnosis.evidence
    out = [f"state: {diagnosis.state}", diagnosis.summary,
           f"final train {ev['final_train_accuracy']:.1%}, validation "
           f"{ev['final_val_accuracy']:.1%} (best {ev['best_val_accuracy']:.1%}) after "
           f"{int(ev['epochs'])} epochs"]
    if diagnosis.changes:
        out += ["", "changes:"]
        for change in diagnosis.changes:
            out.append(f"- {change.action}  [{change.rule}]")
            out.extend(textwrap.wrap(change.reason, 96, initial_indent="    ",
                                     subsequent_indent="    "))
    return "\n".join(out)


def run_diagnose(args: argparse.Namespace) -> int:
    diagnosis = diagnose(read_curves(args.file, args.config))
    print(diagnosis.model_dump_json(indent=2) if args.json else render_diagnosis(diagnosis))
    return 0


def run_rules(args: argparse.Namespace) -> int:
    """The registry as `GET /v1/rules` answers it (``--json``), or as the README's table."""
    if args.json:
        print(json.dumps([view.model_dump(mode="json") for view in rule_views()], indent=2,
                         ensure_ascii=False))
    else:
        print(rules_markdown())
    return 0
