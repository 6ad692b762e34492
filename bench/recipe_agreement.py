"""How closely the advisor agrees with published ImageNet-1k recipes.

For each recipe in tests/advisor/data/published_recipes.json: model name, total batch, epochs and
the recipe's optimizer go in; the learning rate must be within 2x, the weight decay within 2.5x,
label smoothing and warmup must agree on/off. A second pass leaves the optimizer free and checks
the family the advisor picks. Prints one line per disagreement and the agreement rates.

    .venv/bin/python bench/recipe_agreement.py [--all]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where bench/advisor.py and bench/api.py
# would shadow the packages of the same names.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
from pathlib import Path
from typing import Any

from advisor import catalog, recommend

RECIPES = Path(__file__).resolve().parents[1] / "tests/advisor/data/published_recipes.json"


def within(ours: float, theirs: float, factor: float) -> bool:
    if theirs == 0 or ours == 0:
        return ours == theirs
    return 1 / factor <= ours / theirs <= factor


def check(recipe: dict[str, Any]) -> dict[str, bool]:
    training = {"batch_size": recipe["batch_size"], "epochs": recipe["epochs"],
                "optimizer": recipe["optimizer"], "pretrained": recipe.get("pretrained", False)}
    values = recommend({"model": {"name": recipe["model"]}, "training": training}).hyperparameters
    free = recommend({"model": {"name": recipe["model"]},
                      "training": {**training, "optimizer": None}}).hyperparameters
    return {
        "learning_rate": within(values["learning_rate"], recipe["learning_rate"], 2.0),
        "weight_decay": within(values["weight_decay"], recipe["weight_decay"], 2.5),
        "label_smoothing": (values["label_smoothing"] > 0) == (recipe["label_smoothing"] > 0),
        "warmup": (values["warmup_epochs"] > 0) == (recipe["warmup_epochs"] > 0),
        "optimizer_family": free["optimizer"] == recipe["optimizer"],
    }


def agreement(recipes: list[dict[str, Any]]) -> tuple[dict[str, float], list[str]]:
    known = [r for r in recipes if catalog.find_model(r["model"]) is not None]
    totals: dict[str, int] = {}
    misses = []
    for recipe in known:
        for key, ok in check(recipe).items():
            totals[key] = totals.get(key, 0) + ok
            if not ok:
                misses.append(f"{recipe['model']:<28} {key}: {recipe['source']}")
    rates = {key: count / len(known) for key, count in totals.items()}
    rates["known_by_name"] = len(known) / len(recipes)
    core = ("learning_rate", "weight_decay", "label_smoothing", "warmup")
    rates["overall"] = sum(totals[k] for k in core) / (len(core) * len(known))
    return rates, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every disagreement")
    args = parser.parse_args()
    recipes = json.loads(RECIPES.read_text())
    rates, misses = agreement(recipes)
    for line in misses if args.all else misses[:40]:
        print(line)
    print(f"\n{len(recipes)} recipes")
    for key, rate in rates.items():
        print(f"{key:<18} {rate:6.1%}")


if __name__ == "__main__":
    main()
