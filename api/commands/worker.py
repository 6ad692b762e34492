"""`hpadvisor worker`: run tuning trials for queued jobs, on any number of hosts against one
database (PostgreSQL for many workers; the SQLite file for one machine)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from api.errors import UsageError
from api.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="run trials of queued tuning jobs")
    worker.add_argument("--database-url", help="SQLAlchemy URL shared with the API "
                        "(default: HPADVISOR_DATABASE_URL or sqlite:///./hpadvisor.db)")
    worker.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    worker.add_argument("--threads", type=int, help="torch threads per trial (default: all "
                        "cores; with several workers on one machine, give each 1)")
    worker.add_argument("--config", help="worker config file declaring your own data sets")
    worker.add_argument("--once", action="store_true",
                        help="exit when no job has work left instead of waiting for more")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between job polls")
    worker.add_argument("--log-json", action="store_true",
                        default=os.environ.get("HPADVISOR_LOG_JSON", "") not in
                        ("", "0", "false", "no"),
                        help="log one JSON object per line (time, level, logger, message, "
                        "job_id, trial, ...; default: $HPADVISOR_LOG_JSON)")
    worker.set_defaults(handler=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    if args.log_json:
        from api import logs

        logs.setup(json_lines=True)
    else:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = args.database_url or Settings.from_env().database_url
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads: must be at least 1")
    from worker.loop import Worker, WorkerOptions
    from worker.offers import offer_everything
    from worker.store import upgrade

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device: cuda asked for, but no CUDA device is available here")
    upgrade(url)
    try:
        names = offer_everything(url, args.config)
    except (OSError, ValueError) as error:
        raise UsageError(f"--config: {error}") from None
    logging.getLogger("hpadvisor.worker").info("offering %s", ", ".join(names))
    worker = Worker(url, WorkerOptions(device=args.device, threads=args.threads,
                                       poll_s=args.poll, name=f"{os.uname().nodename}:"
                                       f"{os.getpid()}"))

    def stop(signum: int, _frame: FrameType | None) -> None:
        log = logging.getLogger("hpadvisor.worker")
        if worker.stopping:  # a second signal: stop the running trial at its next epoch too
            log.info("signal %d again: stopping the current trial; it will be re-queued", signum)
            worker.cancelled_by_signal = True
        else:
            log.info("signal %d: finishing the current trial, then exiting (again to stop it "
                     "now)", signum)
            worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run(once=args.once)
    return 0
