"""`hpadvisor submit` and `hpadvisor jobs`: tuning jobs over the HTTP API (see `client`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from api.cli.client import client_arguments, download, http, request
from api.cli.profile import add_profile_arguments, model_from_args, training_from_args
from api.errors import UsageError
from worker.settings import Settings
from worker.states import FINAL_STATES, JOB_STATES

DATASET_FLAGS = ("num_images", "num_classes", "image_size")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             settings: Settings) -> None:
    submit = subparsers.add_parser("submit", help="submit a tuning job to the service")
    add_profile_arguments(submit)
    _submit_arguments(submit)
    client_arguments(submit, settings)
    submit.set_defaults(handler=http(run_submit))

    jobs = subparsers.add_parser("jobs", help="list jobs, or show one with its progress")
    jobs.add_argument("id", nargs="?", type=int, help="a job id: show that job")
    jobs.add_argument("--watch", action="store_true", help="poll until the job finishes")
    jobs.add_argument("--interval", type=float, default=2.0, help="seconds between polls")
    jobs.add_argument("--state", choices=JOB_STATES)
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true", help="print the service's JSON")
    jobs.add_argument("--save-model", metavar="DIR",
                      help="save the finished job's best model into DIR: job-ID.safetensors "
                      "(a state_dict) and job-ID.json (what it is, how to load and feed it)")
    client_arguments(jobs, settings)
    jobs.set_defaults(handler=http(run_jobs))


def _submit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a registered data set, e.g. digits")
    parser.add_argument("--objective", default="image-classification")
    parser.add_argument("--trials", type=int, default=20, help="trial budget (1..10000)")
    parser.add_argument("--timeout", type=float, help="seconds before the job stops")
    parser.add_argument("--sampler", default="tpe", help="tpe, random, gp, cmaes or qmc")
    parser.add_argument("--pruner", default="median",
                        help="median, hyperband, successive_halving or none")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--tune", help="comma-separated keys to search, e.g. "
                        "learning_rate,weight_decay")
    parser.add_argument("--data-fraction", type=float, help="the share of the training images "
                        "each trial trains on (0..1]; the result says what the full run uses")
    parser.add_argument("--trial-image-size", type=int, help="the resolution the trials train "
                        "at (at most the data set's)")
    parser.add_argument("--json", action="store_true", help="print the created job as JSON")


# --- submit ------------------------------------------------------------------------------------

def job_body(args: argparse.Namespace) -> dict[str, Any]:
    for flag in DATASET_FLAGS:
        if getattr(args, flag) is not None:
            raise UsageError(f"--{flag.replace('_', '-')}: a job's data set carries its own "
                             "profile; name it with --dataset")
    if args.no_flip:
        raise UsageError("--no-flip: a job's data set says whether flips are allowed")
    if not args.model and args.params_m is None:
        raise UsageError("--model: name the model to train (GET /v1/models, or the trial "
                         "runner's resnet20, small_cnn, ...)")
    tune = [key.strip() for key in args.tune.split(",") if key.strip()] if args.tune else None
    training = training_from_args(args)
    if args.data_fraction is not None:
        training["data_fraction"] = args.data_fraction
    if args.trial_image_size is not None:
        training["image_size"] = args.trial_image_size
    return {"objective": args.objective, "dataset": args.dataset,
            "model": model_from_args(args), "training": training,
            "n_trials": args.trials, "timeout_s": args.timeout, "sampler": args.sampler,
            "pruner": args.pruner, "seed": args.seed, "tune": tune}


def run_submit(args: argparse.Namespace) -> int:
    job = request(args, "POST", "/v1/jobs", json=job_body(args))
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        print(job["id"])
    return 0


# --- jobs --------------------------------------------------------------------------------------

def _best(job: dict[str, Any]) -> str:
    best = job.get("best")
    if best:
        return f"best {best['value']:.4g} (trial {best['number']})"
    progress = job.get("progress") or {}
    value = progress.get("best_value")
    return f"best {value:.4g}" if isinstance(value, int | float) else "best -"


def progress_line(job: dict[str, Any]) -> str:
    """`job 3  running    trial 5/20 (4 done)  epoch 7/15  best 0.9812 (trial 3)`."""
    progress = job.get("progress") or {}
    done = job.get("trials_done", progress.get("trials_done", progress.get("trial", 0)))
    parts = [f"job {job['id']}", f"{job['state']:<9}", f"trial {done}/{job['n_trials']}"]
    if job["state"] == "running" and isinstance(progress.get("trial"), int):
        parts[-1] = f"trial {progress['trial']}/{job['n_trials']} ({done} done)"
    if job["state"] == "running" and progress.get("epoch") is not None:
        epochs = progress.get("epochs")
        parts.append(f"epoch {progress['epoch']}" + (f"/{epochs}" if epochs else ""))
        if progress.get("slot"):
            parts.append(f"on {progress['slot']}")
    decoding = progress.get("decoding")
    if job["state"] in ("queued", "running") and decoding:
        parts.append(f"decoding images {decoding['done']}/{decoding['total']} "
                     f"({decoding['images_per_s']}/s)")
    parts.append(_best(job))
    if job.get("waiting"):
        parts.append(job["waiting"])
    if job.get("error"):
        parts.append(f"error: {job['error']}")
    return "  ".join(parts)


def _params(params: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                     for key, value in params.items())


def job_report(job: dict[str, Any]) -> str:
    """The finished job's outcome: best trial, the advisor's rank, the best trial's diagnosis."""
    result = job.get("result") or {}
    lines = []
    best = result.get("best")
    if best:
        lines.append(f"best trial {best['trial_number']}: {best['value']:.4f}  "
                     f"{_params(best.get('params') or {})}")
    advisor = result.get("advisor") or {}
    if advisor.get("rank") is not None:
        lines.append(f"advisor's configuration (trial {advisor['trial_number']}): "
                     f"{advisor['value']:.4f}, rank {advisor['rank']} of "
                     f"{result['counts']['complete']} ({advisor['percentile']:g}th percentile)")
    elif advisor:
        lines.append(f"advisor's configuration (trial {advisor['trial_number']}): "
                     f"{advisor['state']}")
    diagnosis = result.get("diagnosis")
    if diagnosis:
        lines.append(f"diagnosis of the best trial: {diagnosis['state']} - "
                     f"{diagnosis['summary']}")
        lines += [f"  - {change['action']}" for change in diagnosis["changes"]]
    prior = result.get("prior")
    if prior:
        lines.append(f"the advice as a prior: {prior['reason']}")
    full_run = result.get("full_run")
    if full_run:
        lines.append(f"for the full run (the trials trained on less): "
                     f"{_params(full_run['hyperparameters'])}")
        lines += [f"  - {line}" for line in full_run["carried_over"]]
    return "\n".join(lines)


def _show_list(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.state:
        params["state"] = args.state
    page = request(args, "GET", "/v1/jobs", params=params)
    if args.json:
        print(json.dumps(page, indent=2))
        return 0
    if not page["items"]:
        print("no jobs" + (f" in state {args.state}" if args.state else ""))
    for job in page["items"]:
        print(f"{progress_line(job)}  {job['model']} on {job['dataset']}")
    if page["total"] > len(page["items"]):
        print(f"({len(page['items'])} of {page['total']}; --limit for more)")
    return 0


def _watch(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    tty = sys.stdout.isatty()
    last = ""
    while True:
        line = progress_line(job)
        if line != last:
            print(("\r\033[K" if tty else "") + line, end="" if tty else "\n", flush=True)
            last = line
        if job["state"] in FINAL_STATES:
            if tty:
                print()
            return job
        time.sleep(max(0.1, args.interval))
        job = request(args, "GET", f"/v1/jobs/{args.id}")


def save_model(args: argparse.Namespace) -> int:
    """`--save-model DIR`: the job's weights and their description, each written whole."""
    folder = Path(args.save_model).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--save-model: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    meta = folder / f"job-{args.id}.json"
    weights = folder / f"job-{args.id}.safetensors"
    download(args, f"/v1/jobs/{args.id}/model.json", meta)
    size = download(args, f"/v1/jobs/{args.id}/model", weights)
    if args.json:
        print(json.dumps({"weights": str(weights), "meta": str(meta), "bytes": size}))
    else:
        print(f"saved {weights} ({size / 1e6:.1f} MB) and {meta}")
    return 0


def run_jobs(args: argparse.Namespace) -> int:
    if args.id is None:
        if args.watch or args.save_model:
            flag = "--watch" if args.watch else "--save-model"
            raise UsageError(f"{flag}: give the id of the job")
        return _show_list(args)
    if args.save_model:
        return save_model(args)
    job = request(args, "GET", f"/v1/jobs/{args.id}")
    if args.watch:
        job = _watch(args, job) if not args.json else _poll(args, job)
    if args.json:
        print(json.dumps(job, indent=2))
        return 0
    if not args.watch:
        print(progress_line(job))
    if job["state"] in FINAL_STATES and job.get("result"):
        print(job_report(job))
    return 0


def _poll(args: argparse.Namespace, job: dict[str, Any]) -> dict[str, Any]:
    while job["state"] not in FINAL_STATES:
        time.sleep(max(0.1, args.interval))
        job = request(args, "GET", f"/v1/jobs/{args.id}")
    return job
