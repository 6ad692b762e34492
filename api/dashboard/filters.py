"""Jinja filters for presentation only: numbers, times, hyperparameter values."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment


def number(value: Any, digits: int = 4) -> str:
    """A value as people read it: 0.9812, 3e-05, 128, 'cosine', [0.08, 1]."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.{max(digits - 2, 1)}e}".replace("e-0", "e-").replace("e+0", "e+")
        return f"{value:.{digits}g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(number(item, digits) for item in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{key}={number(item, digits)}" for key, item in value.items())
    return str(value)


def when(value: datetime | None) -> str:
    """UTC, to the minute."""
    if value is None:
        return "–"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def label(key: str) -> str:
    return key.replace("_", " ")


def install(environment: Environment) -> None:
    environment.filters.update(number=number, when=when, seconds=seconds, label=label)
