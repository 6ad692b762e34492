"""Smooth transitions between lineages: positions and interpolation on a log scale.

Rules never switch fully at one data-set size or batch; they move from one published lineage to
the next over a range, log-linearly, so a little more data changes the advice a little.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

#: Above this total batch size linear scaling stops holding for plain SGD, AdamW and RMSProp
#: (about 8k, Goyal et al. 2017); layer-wise trust ratios (LARS, LAMB) take over.
VERY_LARGE_BATCH = 8192


def log_position(x: float, low: float, high: float) -> float:
    """Where `x` lies between `low` (0) and `high` (1) on a log scale, clamped to [0, 1]."""
    if x <= low:
        return 0.0
    if x >= high:
        return 1.0
    return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))


def log_blend(a: float, b: float, weight: float) -> float:
    """The geometric blend a^(1-w) b^w: `a` at weight 0, `b` at weight 1."""
    return math.exp((1 - weight) * math.log(a) + weight * math.log(b))


def log_interp(x: float, points: Sequence[tuple[float, float]]) -> float:
    """Piecewise log-log interpolation through (x, y) anchors, flat beyond the ends."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return log_blend(y0, y1, log_position(x, x0, x1))
    return points[-1][1]


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
