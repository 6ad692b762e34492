"""The service's settings, read once from the environment.

* ``HPADVISOR_DATABASE_URL`` - SQLAlchemy URL for our tables and Optuna's (default
  ``sqlite:///./hpadvisor.db``; ``postgresql+psycopg://user:pass@host/db`` for many workers).
* ``HPADVISOR_API_KEYS`` - comma-separated keys; when set, every mutating endpoint needs
  ``Authorization: Bearer <key>``.
* ``HPADVISOR_MAX_BODY_BYTES`` - request bodies above this are refused with 413 (default 1 MiB).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./hpadvisor.db"
DEFAULT_MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    api_keys: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Import the trial runner (torch) in the background at start, so the first job is quick.
    warm_trainer: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        keys = tuple(k.strip() for k in env.get("HPADVISOR_API_KEYS", "").split(",") if k.strip())
        return cls(
            database_url=env.get("HPADVISOR_DATABASE_URL") or DEFAULT_DATABASE_URL,
            api_keys=keys,
            max_body_bytes=_positive_int(env, "HPADVISOR_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            warm_trainer=env.get("HPADVISOR_WARM_TRAINER", "1") not in ("0", "false", "no"),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a whole number of bytes, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name}: must be at least 1, got {value}")
    return value
