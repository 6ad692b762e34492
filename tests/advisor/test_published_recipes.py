"""Agreement with published ImageNet-1k recipes (PaddleClas, torchvision, timm, papers).

The same check as bench/recipe_agreement.py, with floors a regression would break.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from recipe_agreement import RECIPES, agreement  # noqa: E402


def test_advisor_agrees_with_published_recipes():
    rates, misses = agreement(json.loads(RECIPES.read_text()))
    assert rates["known_by_name"] >= 0.95
    assert rates["learning_rate"] >= 0.95, misses
    assert rates["weight_decay"] >= 0.95, misses
    assert rates["label_smoothing"] >= 0.9, misses
    assert rates["warmup"] >= 0.9, misses
    assert rates["optimizer_family"] >= 0.9, misses
    assert rates["overall"] >= 0.95, misses
