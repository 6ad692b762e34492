"""The deployment's settings: one object, read from the ``HPADVISOR_*`` environment when a
process starts (`Settings.from_env()`), then passed to what needs it - the app
(`api.app.create_app`), the worker (`worker.loop.Worker`), the command line (`api.cli.main`).
Nothing reads the environment at import.

The database, for the service and the workers:

* ``HPADVISOR_DATABASE_URL`` - SQLAlchemy URL for our tables and Optuna's (default
  ``sqlite:///./hpadvisor.db``; ``postgresql+psycopg://user:pass@host/db`` for many workers).

The service:

* ``HPADVISOR_API_KEYS`` - comma-separated keys; when set, every mutating endpoint needs
  ``Authorization: Bearer <key>``.
* ``HPADVISOR_MAX_BODY_BYTES`` - request bodies above this are refused with 413 (default 1 MiB).
* ``HPADVISOR_WARM_TRAINER`` - import the trial runner (torch) in the background at start, so
  the first job is quick (default 1; 0 turns it off).
* ``HPADVISOR_LOG_JSON`` - log one JSON object per line (``serve``, ``worker``,
  ``storage-proxy``, and each process of ``serve --workers N``).

The workers:

* ``HPADVISOR_STORAGE`` - reach Optuna's storage through ``hpadvisor storage-proxy`` at
  ``grpc://host:port`` instead of the database.
* ``HPADVISOR_HEARTBEAT_S`` - seconds between a running trial's heartbeats (default 10).
* ``HPADVISOR_GRACE_S`` - a trial without a heartbeat for this long is failed and re-queued
  (default three heartbeats).
* ``HPADVISOR_PROGRESS_S`` - epoch progress is written to the job row at most this often
  (default 1 s; the last epoch always is).
* ``HPADVISOR_DB_RETRIES`` - a lost database is waited for this many times in a row, with a
  growing pause, before the worker exits with the error (default 10).
* ``HPADVISOR_PROXY_WAIT_S`` - how long a worker on a storage proxy waits for it at start
  (default 30 s).
* ``HPADVISOR_PROBE`` - run the learning-rate probe before a job's first trial (default 1; 0
  turns it off).
* ``HPADVISOR_CACHE_DIR`` - where decoded image folders are cached (default
  ``~/.cache/hpadvisor/folders``).
* ``HPADVISOR_MEMORY_BUDGET`` - how much host memory a data set's decoded images may take, in
  bytes or with a unit (``512M``, ``8G``; default half of the memory available when the data
  set is loaded; the slots of a pool, `hpadvisor worker --gpus/--slots`, share that default
  equally). An image folder larger than this is streamed from its cache on disk.
* ``HPADVISOR_SLOT`` - the slot this worker is in a pool (``hpadvisor worker --gpus`` /
  ``--slots`` sets it for each process it starts: ``gpu1``, ``slot0``); recorded on its trials.
* ``HPADVISOR_ARTIFACTS`` - Optuna's artifact store for trial checkpoints and the best model of
  each job: a folder (default ``./hpadvisor-artifacts``; shared storage when workers are on
  many hosts), ``s3://BUCKET`` or ``gs://BUCKET``. The API reads the models from it too.
* ``HPADVISOR_CHECKPOINT_S`` - a running trial saves its state at the first epoch end after
  this many seconds of training since its last save (default 300; 0: every epoch).

The command line's client (``submit``, ``jobs``, ``evidence``, ``recommend --url``):

* ``HPADVISOR_URL`` - the service (default ``http://127.0.0.1:8000``).
* ``HPADVISOR_API_KEY`` - the key it sends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "HPADVISOR_"
DEFAULT_DATABASE_URL = "sqlite:///./hpadvisor.db"
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_HEARTBEAT_S = 10
DEFAULT_ARTIFACTS = "./hpadvisor-artifacts"
#: What a flag variable holds when it is off; anything else turns it on.
OFF = ("0", "false", "no")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
#: The default memory budget: this share of the memory available when a data set is loaded.
DEFAULT_BUDGET_SHARE = 0.5


def default_memory_budget() -> int:
    """Half of the memory available now (Linux's MemAvailable; the physical memory where that
    is not known), in bytes: `Settings.memory_budget` when none is set."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * DEFAULT_BUDGET_SHARE)
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DEFAULT_BUDGET_SHARE)


def parse_bytes(text: str) -> int:
    """``"512M"`` -> 536870912: a whole number of bytes, or one with a K, M, G or T suffix
    (powers of 1024; a trailing ``B`` or ``iB`` is allowed). A ValueError says what is
    allowed."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "")
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"must be a number of bytes, optionally with K, M, G or T "
                         f"(like 512M or 8G), got {text!r}") from None
    return int(amount * _UNITS[unit])


class Settings(BaseSettings):
    """Every ``HPADVISOR_*`` setting (see the module); frozen once read.

    >>> Settings(database_url="sqlite:///jobs.db", heartbeat_s=2).grace_s
    6
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_ignore_empty=True,
                                      frozen=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL

    api_keys: Annotated[tuple[str, ...], NoDecode] = ()
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    warm_trainer: bool = True
    log_json: bool = False

    storage: str | None = None
    heartbeat_s: int = DEFAULT_HEARTBEAT_S
    grace_s: int = 3 * DEFAULT_HEARTBEAT_S
    progress_s: float = 1.0
    db_retries: int = 10
    proxy_wait_s: float = 30.0
    probe: bool = True
    cache_dir: Path | None = None
    memory_budget: Annotated[int, Field(ge=1)] | None = None
    slot: str | None = None
    artifacts: str = DEFAULT_ARTIFACTS
    checkpoint_s: float = Field(default=300.0, ge=0)

    url: str = DEFAULT_URL
    api_key: str | None = None

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("warm_trainer", "log_json", "probe", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return value not in OFF if isinstance(value, str) else value

    @field_validator("memory_budget", mode="before")
    @classmethod
    def _bytes_with_unit(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_bytes(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _grace_is_three_heartbeats_unless_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("grace_s") is None:
            try:
                heartbeat = int(data.get("heartbeat_s", DEFAULT_HEARTBEAT_S))
            except (TypeError, ValueError):
                return data  # the heartbeat's own error says what is wrong
            data = {**data, "grace_s": 3 * heartbeat}
        return data

    @classmethod
    def from_env(cls) -> Settings:
        """The settings in the environment now; a bad value is a ValueError naming its
        variable (``HPADVISOR_MAX_BODY_BYTES: Input should be greater than or equal to 1``)."""
        try:
            return cls()
        except ValidationError as error:
            raise ValueError("; ".join(
                f"{ENV_PREFIX}{'.'.join(str(p) for p in problem['loc']).upper()}: "
                f"{problem['msg']}" for problem in error.errors())) from None
