"""Logging for `hpadvisor serve` and `hpadvisor worker`: readable lines, or one JSON object per
line with ``--log-json``.

A JSON line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, then every
field the call site passed in ``extra=`` (the worker adds ``job_id``, ``trial``, ``epoch``,
``value``), the access log's ``client``, ``method``, ``path`` and ``status``, and ``exception``
when there was one. Optuna's and uvicorn's loggers go through the same handler, so nothing else
writes to stderr in another format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

#: Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "color_message", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, _version, status = record.args
            entry.update(client=client, method=method, path=path, status=status)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def handler(json_lines: bool) -> logging.Handler:
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    return out


def setup(json_lines: bool, level: int = logging.INFO) -> None:
    """Route every logger (ours, Optuna's, uvicorn's, warnings) through one stderr handler."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(json_lines))
    root.setLevel(level)
    logging.captureWarnings(True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()


#: uvicorn's `log_config` under `setup`: its loggers keep no handlers of their own and reach
#: the root handler (uvicorn would otherwise install its plain-text ones).
UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1, "disable_existing_loggers": False,
    "loggers": {name: {"handlers": [], "propagate": True, "level": "INFO"}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}}
