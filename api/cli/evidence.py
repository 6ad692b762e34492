"""`hpadvisor evidence`: what finished studies said about the advice (over the HTTP API)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from api.cli.client import client_arguments, http, request
from worker.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             settings: Settings) -> None:
    parser = subparsers.add_parser("evidence", help="list evidence from finished studies, or "
                                   "delete a record")
    parser.add_argument("--family", help="only this model family, e.g. resnet")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--delete", type=int, metavar="ID", help="delete the record ID "
                        "(needs the API key when the service has keys)")
    parser.add_argument("--json", action="store_true", help="print the service's JSON")
    client_arguments(parser, settings)
    parser.set_defaults(handler=http(run_evidence))


def _ratios(record: dict[str, Any]) -> str:
    parts = [f"{key} x{math.exp(value):.3g}" for key, value in record["log_ratios"].items()]
    parts += [f"{key} {value:+.3g}" for key, value in record["differences"].items()]
    return ", ".join(parts) or "-"


def run_evidence(args: argparse.Namespace) -> int:
    if args.delete is not None:
        request(args, "DELETE", f"/v1/evidence/{args.delete}")
        print(f"deleted evidence record {args.delete}")
        return 0
    params: dict[str, Any] = {"limit": args.limit}
    if args.family:
        params["family"] = args.family
    page = request(args, "GET", "/v1/evidence", params=params)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    print(f"{'id':>4}  {'job':>4}  {'family':<14} {'opt':<7} {'rank':>9}  best/advised")
    for item in page["items"]:
        record = item["record"]
        rank = f"{item['advisor_rank']}/{item['n_complete']}"
        print(f"{item['id']:>4}  {item['job_id']:>4}  {item['model_family'] or '-':<14} "
              f"{item['optimizer']:<7} {rank:>9}  {_ratios(record)}")
    print(f"{page['total']} record(s)")
    return 0
