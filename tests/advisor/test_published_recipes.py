"""Agreement with published ImageNet-1k recipes (PaddleClas, torchvision, timm, papers).

The same check as bench/recipe_agreement.py, with floors a regression would break.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "recipe_agreement.py"
# Loaded from its file: putting bench/ on sys.path would let bench/api.py shadow the api package.
spec = importlib.util.spec_from_file_location("recipe_agreement", BENCH)
assert spec is not None and spec.loader is not None
recipe_agreement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recipe_agreement)
RECIPES, agreement = recipe_agreement.RECIPES, recipe_agreement.agreement


def test_advisor_agrees_with_published_recipes():
    rates, misses = agreement(json.loads(RECIPES.read_text()))
    assert rates["known_by_name"] >= 0.95
    assert rates["learning_rate"] >= 0.95, misses
    assert rates["weight_decay"] >= 0.95, misses
    assert rates["label_smoothing"] >= 0.9, misses
    assert rates["warmup"] >= 0.9, misses
    assert rates["optimizer_family"] >= 0.9, misses
    assert rates["overall"] >= 0.95, misses
