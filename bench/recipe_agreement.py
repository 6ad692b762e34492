"""How closely the advisor agrees with published recipes, by kind.

Two sets in tests/advisor/data/: `published_recipes.json` (ImageNet-1k from scratch) and
`transfer_recipes.json` (small data from scratch: CIFAR, SVHN, STL-10, Tiny-ImageNet; and
fine-tuning: BiT, ViT/VTAB-1k, ConvNeXt, Swin, MAE, BEiT, DeiT, CCT, Hugging Face, torchvision,
SimCLR). For each recipe the model (name, or size and family), the data set (images, classes,
resolution), total batch, epochs, the recipe's optimizer and, when fine-tuning, the kind of
pretraining go in; the learning rate must be within 2x, the weight decay within 2.5x (a decay of
1e-6 or less counts as none: ConvNeXt's 1e-8 is no decay), label smoothing and warmup must agree
on/off. A second pass leaves the optimizer free and checks the family the advisor picks. Prints
one line per disagreement and the agreement rates per kind (imagenet, scratch, fine_tune).

    .venv/bin/python bench/recipe_agreement.py [--all] [--kind imagenet|scratch|fine_tune]

`--sgd-fine-tune` scores the SGD fine-tuning lineage of supervised ImageNet-1k CNNs on
`sgd_fine_tune_configs.json` (issue 20, item 5), with the issue's tolerances: the learning rate
within 3x, the weight decay within 3x or both none, label smoothing and warmup on/off. Its rows
are split: `writing` (PaddleClas's configs and guidance, which the rule was written from) and
`held_out` (torchvision tutorials, VTAB, BiT, mmpretrain, Salman et al., fine-grained repos: read
only to measure). A row agrees when every criterion it states agrees.

    .venv/bin/python bench/recipe_agreement.py --sgd-fine-tune [--json]
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

DATA = Path(__file__).resolve().parents[1] / "tests/advisor/data"
RECIPES = DATA / "published_recipes.json"
TRANSFER_RECIPES = DATA / "transfer_recipes.json"
SGD_FINE_TUNE = DATA / "sgd_fine_tune_configs.json"
#: Decays this small are no decay (ConvNeXt and Swin fine-tune with 1e-8 where others use 0).
NO_DECAY = 1e-6


def within(ours: float, theirs: float, factor: float, zero: float = 0.0) -> bool:
    if theirs <= zero or ours <= zero:
        return ours <= zero and theirs <= zero
    return 1 / factor <= ours / theirs <= factor


def kind_of(recipe: dict[str, Any]) -> str:
    return str(recipe.get("kind", "imagenet"))


def request_for(recipe: dict[str, Any], optimizer: str | None) -> dict[str, Any]:
    model: dict[str, Any] = {"name": recipe["model"]}
    for key in ("params_millions", "family"):
        if recipe.get(key) is not None:
            model[key] = recipe[key]
    training: dict[str, Any] = {"batch_size": recipe["batch_size"], "epochs": recipe["epochs"],
                                "optimizer": optimizer,
                                "pretrained": recipe.get("pretrained", False)}
    if recipe.get("pretraining"):
        training["pretraining"] = recipe["pretraining"]
    request: dict[str, Any] = {"model": model, "training": training}
    if "num_train_images" in recipe:
        request["dataset"] = {"num_train_images": recipe["num_train_images"],
                              "num_classes": recipe["num_classes"],
                              "image_size": recipe["image_size"]}
    return request


def check(recipe: dict[str, Any]) -> dict[str, bool]:
    values = recommend(request_for(recipe, recipe["optimizer"])).hyperparameters
    free = recommend(request_for(recipe, None)).hyperparameters
    return {
        "learning_rate": within(values["learning_rate"], recipe["learning_rate"], 2.0),
        "weight_decay": within(values["weight_decay"], recipe["weight_decay"], 2.5,
                               NO_DECAY),
        "label_smoothing": (values["label_smoothing"] > 0) == (recipe["label_smoothing"] > 0),
        "warmup": (values["warmup_epochs"] > 0) == (recipe["warmup_epochs"] > 0),
        "optimizer_family": free["optimizer"] == recipe["optimizer"],
    }


def agreement(recipes: list[dict[str, Any]]) -> tuple[dict[str, float], list[str]]:
    """Rates over the recipes whose model the advisor can place (by name, or by size)."""
    known = [r for r in recipes if catalog.find_model(r["model"]) is not None
             or r.get("params_millions") is not None]
    totals: dict[str, int] = {}
    misses = []
    for recipe in known:
        for key, ok in check(recipe).items():
            totals[key] = totals.get(key, 0) + ok
            if not ok:
                misses.append(f"{recipe['model']:<28} {key}: {recipe['source']} "
                              f"({recipe.get('dataset', 'imagenet-1k')})")
    rates = {key: count / len(known) for key, count in totals.items()}
    rates["known_by_name"] = len(known) / len(recipes)
    core = ("learning_rate", "weight_decay", "label_smoothing", "warmup")
    rates["overall"] = sum(totals[k] for k in core) / (len(core) * len(known))
    return rates, misses


def lineage_check(config: dict[str, Any]) -> dict[str, bool]:
    """One published fine-tuning config against the advice for its profile: the criteria it
    states (a multi-label config states no label smoothing, the guidance only a rate)."""
    values = recommend(request_for({**config, "pretrained": True},
                                   config["optimizer"])).hyperparameters
    out = {"learning_rate": within(values["learning_rate"], config["learning_rate"], 3.0)}
    if config["weight_decay"] is not None:
        out["weight_decay"] = within(values["weight_decay"], config["weight_decay"], 3.0, NO_DECAY)
    if config["label_smoothing"] is not None:
        out["label_smoothing"] = (values["label_smoothing"] > 0) == (config["label_smoothing"] > 0)
    if config["warmup"] is not None:
        out["warmup"] = (values["warmup_epochs"] > 0) == config["warmup"]
    return out


def lineage_agreement(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per set (writing, held_out): the share of configs agreeing on each criterion and on all
    of them, and the ids of those that do not."""
    report: dict[str, Any] = {}
    for name in ("writing", "held_out"):
        rows = [c for c in configs if c["set"] == name]
        checks = {c["id"]: lineage_check(c) for c in rows}
        rates = {key: sum(ok[key] for ok in checks.values() if key in ok)
                 / sum(key in ok for ok in checks.values())
                 for key in ("learning_rate", "weight_decay", "label_smoothing", "warmup")}
        rates["all"] = sum(all(ok.values()) for ok in checks.values()) / len(rows)
        report[name] = {"configs": len(rows), "rates": rates,
                        "misses": {i: [k for k, v in ok.items() if not v]
                                   for i, ok in checks.items() if not all(ok.values())}}
    return report


def by_kind() -> dict[str, list[dict[str, Any]]]:
    """Every recipe of both sets, grouped as imagenet, scratch (small data) and fine_tune."""
    groups: dict[str, list[dict[str, Any]]] = {"imagenet": [], "scratch": [], "fine_tune": []}
    for path in (RECIPES, TRANSFER_RECIPES):
        for recipe in json.loads(path.read_text()):
            groups[kind_of(recipe)].append(recipe)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every disagreement")
    parser.add_argument("--kind", choices=["imagenet", "scratch", "fine_tune"])
    parser.add_argument("--sgd-fine-tune", action="store_true",
                        help="score the SGD fine-tuning lineage on its writing and held-out sets")
    parser.add_argument("--json", action="store_true", help="with --sgd-fine-tune: JSON out")
    args = parser.parse_args()
    if args.sgd_fine_tune:
        report = lineage_agreement(json.loads(SGD_FINE_TUNE.read_text()))
        if args.json:
            print(json.dumps(report, indent=1))
            return
        for name, part in report.items():
            print(f"--- {name}: {part['configs']} configs; disagreeing: "
                  + ", ".join(f"{i} ({'/'.join(k)})" for i, k in part["misses"].items()))
        print(f"\n{'':<18}{'writing':>11}{'held_out':>11}")
        for key in report["writing"]["rates"]:
            print(f"{key:<18}" + "".join(f"{report[n]['rates'][key]:>11.1%}" for n in report))
        return
    groups = by_kind()
    kinds = [args.kind] if args.kind else list(groups)
    table: dict[str, dict[str, float]] = {}
    for kind in kinds:
        rates, misses = agreement(groups[kind])
        table[kind] = rates
        print(f"--- {kind}: {len(groups[kind])} recipes, {len(misses)} disagreements")
        for line in misses if args.all else misses[:15]:
            print(line)
    print(f"\n{'':<18}" + "".join(f"{kind:>11}" for kind in kinds))
    for key in table[kinds[0]]:
        print(f"{key:<18}" + "".join(f"{table[kind][key]:>11.1%}" for kind in kinds))


if __name__ == "__main__":
    main()
