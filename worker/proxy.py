"""Optuna's gRPC storage proxy, for more workers than one database can hold connections for.

`hpadvisor storage-proxy` serves Optuna's storage of the database URL over gRPC (Optuna's own
`run_grpc_proxy_server`, over Optuna's cached RDB storage); workers started with
`--storage grpc://host:port` talk to it instead of opening Optuna's connections themselves.

Optuna's heartbeat (the stale-trial check that re-runs the trials of a dead worker) exists only
on its RDB storage. `HeartbeatGrpcStorage` adds it to the gRPC client through Optuna's own
`BaseHeartbeat` interface: a running trial's beat is a system attribute holding the worker's
clock, so Optuna's heartbeat thread, `fail_stale_trials` and retry callback work unchanged.
Worker hosts' clocks must agree to well within the grace period (NTP does).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import grpc
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import GrpcStorageProxy, get_storage, run_grpc_proxy_server
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from worker.store.db import redacted
from worker.store.optuna_rdb import make_storage
from worker.trial_storage import TrialStartHook

log = logging.getLogger("hpadvisor.proxy")
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

GRPC_SCHEME = "grpc"
DEFAULT_PORT = 13000
#: The trial system attribute that holds a running trial's last beat (seconds since the epoch).
BEAT_ATTR = "hpadvisor:heartbeat"


def parse_grpc_url(url: str) -> tuple[str, int]:
    """`grpc://host:port` as (host, port); ValueError naming what is wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme != GRPC_SCHEME or not parts.hostname:
        raise ValueError(f"expected grpc://host:port, got {url!r}")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"the port of {url!r} is not a number from 1 to 65535") from None
    return parts.hostname, port


def is_grpc_url(url: str | None) -> bool:
    return bool(url) and urlsplit(str(url)).scheme == GRPC_SCHEME


class HeartbeatGrpcStorage(TrialStartHook, GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC client storage with Optuna's heartbeat protocol on trial attributes (and
    the worker's trial-start hook, see `worker.trial_storage`)."""

    def __init__(self, url: str, *, heartbeat_interval: int, grace_period: int,
                 stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None
                 ) -> None:
        host, port = parse_grpc_url(url)
        super().__init__(host=host, port=port)
        self.url = url
        self._heartbeat_interval = heartbeat_interval
        self._grace_period = grace_period
        self._stale_trial_callback = stale_trial_callback

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        template = self._fresh(template_trial)
        try:
            trial_id = super().create_new_trial(study_id, template)
        except Exception as error:
            if template is not template_trial:
                self._cut(("claim", self._token), error)
            raise
        if template is None or template.state == TrialState.RUNNING:
            self._started(trial_id)
        return trial_id

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, BEAT_ATTR, time.time())
        except UpdateFinishedTrialError:
            pass  # failed as stale by another worker meanwhile; Optuna's tell will say so
        except grpc.RpcError as error:  # keep beating: the proxy may be back by the next beat
            log.warning("heartbeat of trial %d not recorded: %s", trial_id, error.code())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # A running trial that never beat is judged by its start (the worker's clock, like the
        # beats): one whose `ask` was cut off before its first beat must not stay RUNNING.
        deadline = time.time() - self._grace_period
        return self._stale([trial._trial_id
                            for trial in self.get_all_trials(study_id, deepcopy=False,
                                                             states=(TrialState.RUNNING,))
                            if _last_sign_of_life(trial) < deadline])

    def get_heartbeat_interval(self) -> int | None:
        return self._heartbeat_interval

    def get_heartbeat_stale_trial_callback(
            self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_trial_callback


def _last_sign_of_life(trial: FrozenTrial) -> float:
    """The trial's last beat, or its start when it has not beaten since (seconds since the
    epoch). A re-run of a stale trial inherits the dead trial's system attributes, its last beat
    among them (Optuna's retry callback copies them): that beat is older than the re-run's
    start and must not make the re-run stale before its own first beat."""
    start = time.time() if trial.datetime_start is None else trial.datetime_start.timestamp()
    return max(float(trial.system_attrs.get(BEAT_ATTR, start)), start)


def serve(database_url: str, host: str, port: int, threads: int) -> None:
    """Serve Optuna's storage of `database_url` on host:port until the process is stopped."""
    # Optuna's cache over its RDB storage; the proxy's threads pop trials for many workers.
    storage = get_storage(make_storage(database_url, immediate=True))
    log.info("Optuna storage proxy on grpc://%s:%d for %s (%d threads)", host, port,
             redacted(database_url), threads)
    run_grpc_proxy_server(storage, host=host, port=port,
                          thread_pool=ThreadPoolExecutor(max_workers=threads))
