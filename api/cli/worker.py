"""`hpadvisor worker`: run tuning trials for queued jobs, on any number of hosts against one
database (PostgreSQL for many workers; the SQLite file for one machine). `hpadvisor
storage-proxy`: Optuna's gRPC storage proxy in front of that database, for hundreds of workers."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from api.errors import UsageError
from worker.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
             settings: Settings) -> None:
    worker = subparsers.add_parser("worker", help="run trials of queued tuning jobs")
    worker.add_argument("--database-url", help="SQLAlchemy URL shared with the API "
                        "(default: HPADVISOR_DATABASE_URL or sqlite:///./hpadvisor.db)")
    worker.add_argument("--storage", metavar="grpc://HOST:PORT",
                        default=settings.storage,
                        help="reach Optuna's storage through `hpadvisor storage-proxy` at this "
                        "address instead of the database (default: $HPADVISOR_STORAGE); the job "
                        "table is still read on --database-url")
    worker.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    worker.add_argument("--threads", type=int, help="torch threads per trial (default: all "
                        "cores; with several workers on one machine, give each 1)")
    worker.add_argument("--config", help="worker config file declaring your own data sets")
    worker.add_argument("--once", action="store_true",
                        help="exit when no job has work left instead of waiting for more")
    worker.add_argument("--poll", type=float, default=1.0, help="seconds between job polls")
    worker.add_argument("--gpus", metavar="all|0,1,3",
                        help="run one trial slot per GPU, each a worker process pinned to its "
                        "GPU, restarted if it dies, all stopped by one SIGTERM")
    worker.add_argument("--slots", type=int, metavar="N",
                        help="run N trial slots (with --gpus: N on each GPU; alone: on --device, "
                        "each with a share of the cores unless --threads is given)")
    _add_log_json(worker, settings)
    worker.set_defaults(handler=run_worker)

    prepare = subparsers.add_parser(
        "prepare", help="decode a worker config's image folders into the cache now, once for "
        "every worker and job of this host")
    prepare.add_argument("--config", required=True, help="worker config file (TOML or JSON)")
    prepare.add_argument("--json", action="store_true", help="one JSON object per data set")
    _add_log_json(prepare, settings)
    prepare.set_defaults(handler=run_prepare)

    proxy = subparsers.add_parser(
        "storage-proxy", help="serve Optuna's storage of the database to workers over gRPC")
    proxy.add_argument("--database-url", help="SQLAlchemy URL shared with the API "
                       "(default: HPADVISOR_DATABASE_URL or sqlite:///./hpadvisor.db)")
    proxy.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (0.0.0.0 for worker hosts; default 127.0.0.1)")
    proxy.add_argument("--port", type=int, default=13000, help="port (default 13000)")
    proxy.add_argument("--threads", type=int, default=16,
                       help="threads serving requests (default 16)")
    _add_log_json(proxy, settings)
    proxy.set_defaults(handler=run_storage_proxy)


def _add_log_json(parser: argparse.ArgumentParser, settings: Settings) -> None:
    parser.add_argument("--log-json", action="store_true", default=settings.log_json,
                        help="log one JSON object per line (time, level, logger, message, "
                        "job_id, trial, ...; default: $HPADVISOR_LOG_JSON)")


def _setup_logging(json_lines: bool) -> None:
    if json_lines:
        from api import logs

        logs.setup(json_lines=True)
    else:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up is noise here


def run_pool(args: argparse.Namespace, url: str) -> int:
    """`--gpus` / `--slots`: supervise one worker process per slot (`worker.pool`)."""
    from worker.pool import Pool, parse_gpus

    per_device = 1 if args.slots is None else args.slots
    if per_device < 1:
        raise UsageError("--slots: must be at least 1")
    gpus = None
    if args.gpus is not None:
        if args.device == "cpu":
            raise UsageError("--gpus: pins each slot to a GPU; it cannot go with --device cpu")
        import torch

        try:
            gpus = parse_gpus(args.gpus, torch.cuda.device_count())
        except ValueError as error:
            raise UsageError(f"--gpus: {error}") from None
    threads = args.threads
    if threads is None and gpus is None:
        threads = max(1, (os.cpu_count() or 1) // per_device)
    command = [sys.executable, "-m", "api.cli", "worker", "--database-url", url,
               "--poll", str(args.poll)]
    for flag, value in (("--storage", args.storage), ("--config", args.config),
                        ("--threads", threads), ("--device", None if gpus else args.device)):
        if value is not None:
            command += [flag, str(value)]
    command += ["--once"] * args.once + ["--log-json"] * args.log_json
    pool = Pool.of(command, gpus, per_device)
    pool.share_memory(args.settings.memory_budget)
    logging.getLogger("hpadvisor.worker").info(
        "a pool of %d slots: %s", len(pool.slots), ", ".join(s.name for s in pool.slots))
    return pool.run()


def run_prepare(args: argparse.Namespace) -> int:
    """Decode every `format = "folder"` data set of the config into the cache
    (HPADVISOR_CACHE_DIR), with progress on stderr; one line (or JSON object) per data set."""
    _setup_logging(args.log_json)
    import time

    from worker.trainer.dataset_config import read_dataset_config
    from worker.trainer.image_folder import decode_folder

    try:
        datasets = read_dataset_config(args.config)
    except (OSError, ValueError) as error:
        raise UsageError(f"--config: {error}") from None
    for dataset in datasets:
        if dataset.format != "folder":
            continue
        profile = dataset.profile()
        decoded: list[int] = []
        started = time.perf_counter()
        cache = decode_folder(dataset.path, profile.channels, profile.image_size,
                              dataset.val_fraction, progress=_progress_line(decoded),
                              cache_dir=args.settings.cache_dir)
        line = {"name": dataset.name, "images": cache.count, "image_size": profile.image_size,
                "decoded_mb": round(cache.nbytes / 2**20, 1), "decoded_now": bool(decoded),
                "seconds": round(time.perf_counter() - started, 1),
                "cache": str(cache.directory)}
        if args.json:
            print(json.dumps(line), flush=True)
        else:
            print(f"{line['name']}: {line['images']} images at {line['image_size']} px "
                  f"({line['decoded_mb']} MB) {'decoded' if decoded else 'already cached'} "
                  f"in {line['seconds']} s: {line['cache']}", flush=True)
    return 0


def _progress_line(decoded: list[int]) -> Callable[[int, int], None]:
    """Progress on stderr (images n/N, rate); notes in `decoded` that a decode ran."""
    import time

    started = time.perf_counter()

    def report(done: int, total: int) -> None:
        decoded.append(done)
        rate = done / max(time.perf_counter() - started, 1e-9)
        print(f"images decoded {done}/{total} ({rate:.0f} images/s)", file=sys.stderr,
              flush=True)
    return report


def run_worker(args: argparse.Namespace) -> int:
    _setup_logging(args.log_json)
    url = args.database_url or args.settings.database_url
    if args.gpus is not None or args.slots is not None:
        if args.threads is not None and args.threads < 1:
            raise UsageError("--threads: must be at least 1")
        return run_pool(args, url)
    if args.threads is not None and args.threads < 1:
        raise UsageError("--threads: must be at least 1")
    if args.storage:
        from worker.proxy import parse_grpc_url

        try:
            parse_grpc_url(args.storage)
        except ValueError as error:
            raise UsageError(f"--storage: {error}") from None
    from worker.failures import database_error, one_line
    from worker.local_offer import record_profiles, register_config
    from worker.loop import Worker, WorkerOptions
    from worker.store import redacted, upgrade

    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device: cuda asked for, but no CUDA device is available here")
    try:
        upgrade(url)
    except Exception as error:
        if database_error(error) is None:
            raise
        raise UsageError(f"--database-url: no database answers at {redacted(url)} "
                         f"({one_line(database_error(error) or error)})") from None
    try:
        if args.config:
            register_config(args.config)
        names = record_profiles(url)
    except (OSError, ValueError) as error:
        raise UsageError(f"--config: {error}") from None
    logging.getLogger("hpadvisor.worker").info("offering %s", ", ".join(names))
    options = WorkerOptions(device=args.device, threads=args.threads, poll_s=args.poll,
                            name=f"{os.uname().nodename}:{os.getpid()}",
                            slot=args.settings.slot)
    try:
        worker = Worker(url, options, storage_url=args.storage, settings=args.settings)
    except ConnectionError as error:
        raise UsageError(f"--storage: {error}") from None
    except ValueError as error:  # the artifact store
        raise UsageError(f"HPADVISOR_ARTIFACTS: {str(error).removeprefix('artifacts: ')}") from None

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
    try:
        worker.run(once=args.once)
    except Exception as error:  # what the worker could not work around: one line, exit 1
        cause = database_error(error)
        what = (f"the database stayed unavailable past the retry budget ({one_line(cause)})"
                if cause is not None else one_line(error))
        logging.getLogger("hpadvisor.worker").debug("worker stopped", exc_info=True)
        print(f"hpadvisor: error: worker stopped: {what}", file=sys.stderr)
        return 1
    return 0


def run_storage_proxy(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError("--port: must be from 1 to 65535")
    if args.threads < 1:
        raise UsageError("--threads: must be at least 1")
    _setup_logging(args.log_json)
    from worker.proxy import serve
    from worker.store import upgrade

    url = args.database_url or args.settings.database_url
    upgrade(url)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(url, args.host, args.port, args.threads)
    return 0
