"""The command line's HTTP client: the `--url`/`--api-key` flags, one request, and the
service's 4xx answers as one line naming this command line's flags.

A service that cannot be reached (or answers 5xx) raises `Unreachable` (exit status 1, one
line, through `http`); a request the service refuses (4xx) raises `UsageError` (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

from api.errors import UsageError
from worker.settings import DEFAULT_URL, Settings

__all__ = ["DEFAULT_URL", "Unreachable", "client_arguments", "download", "http", "request"]

#: The service's field names as this command line spells them, for its error messages.
FLAGS = {
    "objective": "--objective", "dataset": "--dataset", "n_trials": "--trials",
    "timeout_s": "--timeout", "sampler": "--sampler", "pruner": "--pruner", "seed": "--seed",
    "tune": "--tune", "model.name": "--model", "model.params_millions": "--params-m",
    "model.family": "--family", "training.batch_size": "--batch-size",
    "training.num_gpus": "--num-gpus", "training.epochs": "--epochs", "training.goal": "--goal",
    "training.optimizer": "--optimizer", "training.augmentation": "--augmentation",
    "training.pretraining": "--pretraining", "training.data_fraction": "--data-fraction",
    "training.image_size": "--trial-image-size",
    "authorization": "--api-key", "job_id": "ID", "state": "--state", "limit": "--limit",
}


class Unreachable(Exception):
    """The service did not answer (or answered 5xx): exit status 1."""


def client_arguments(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument("--url", default=settings.url,
                        help="the service (default: $HPADVISOR_URL or %(default)s)")
    parser.add_argument("--api-key", default=settings.api_key,
                        help="API key (default: $HPADVISOR_API_KEY)")


def http(handler: Any) -> Any:
    """Wrap a client command: unreachable service -> exit 1 with one line."""
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except Unreachable as error:
            print(f"hpadvisor: error: {error}", file=sys.stderr)
            return 1
    return run


def describe_problem(body: Any) -> str:
    """The service's 4xx detail as one line: `field: message; ...`."""
    detail = body.get("detail") if isinstance(body, dict) else body
    if not isinstance(detail, list):
        return str(detail)
    parts = []
    for item in detail:
        loc = [str(p) for p in item.get("loc", [])]
        field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
        parts.append(f"{FLAGS.get(field, field) or 'request'}: {item.get('msg', '')}")
    return "; ".join(parts)


def request(args: argparse.Namespace, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    try:
        response = httpx.request(method, args.url.rstrip("/") + path, headers=headers,
                                 timeout=60.0, **kwargs)
    except httpx.HTTPError as error:
        raise Unreachable(f"cannot reach the service at {args.url} ({error}); start it with "
                          "`hpadvisor serve` or pass --url") from None
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:200]}
    if 400 <= response.status_code < 500:
        raise UsageError(describe_problem(body))
    if response.status_code >= 500:
        raise Unreachable(f"the service failed ({response.status_code}): "
                          f"{describe_problem(body)}")
    return body


def download(args: argparse.Namespace, path: str, destination: Path) -> int:
    """Stream `path` into `destination` through a temporary file beside it, renamed into place
    once whole, so a failed download leaves nothing half-written and loses nothing already
    there. Errors as `request` gives them; the bytes written."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    partial = destination.with_name(destination.name + ".part")
    try:
        with httpx.stream("GET", args.url.rstrip("/") + path, headers=headers,
                          timeout=60.0) as response:
            if response.status_code >= 400:
                response.read()
                try:
                    body = response.json()
                except ValueError:
                    body = {"detail": response.text[:200]}
                if response.status_code < 500:
                    raise UsageError(describe_problem(body))
                raise Unreachable(f"the service failed ({response.status_code}): "
                                  f"{describe_problem(body)}")
            written = 0
            with partial.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
                    written += len(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise Unreachable(f"cannot reach the service at {args.url} ({error}); start it with "
                          "`hpadvisor serve` or pass --url") from None
    partial.replace(destination)
    return written
