"""The region worth tuning around a recommendation, as plain data a tuner can use.

Rates and decays are searched on a log scale, centred on the advised (possibly calibrated) value:
the region reaches `spread` times below and above it, where `spread` is how far the rule that
set the value may be off (the published recipes of one ImageNet lineage agree within about 2x,
so 3x; small-data and fine-tuning lineages scatter more, 4-5x; a model known only by its size
gets more room). Each similar finished study narrows it. The upper end never passes the rate
known to diverge with the optimizer (an SGD rate of 30 is not a search region; at batch 256
resnet20 on digits trained to 22% at 1.0 against 98% at 0.15, so SGD stops at 0.8 up to batch
1024). Every dimension says why it is where it is in `reason`.
"""

from __future__ import annotations

from typing import Any

from advisor.schedules import SEARCHED
from advisor.schemas import ADAM_FAMILY, RecommendationRequest, SearchDimension

#: Above these rates the optimizer diverges in published practice: (rate, at batch); the ceiling
#: grows linearly with the batch beyond that batch, as the rates of large-batch recipes do
#: (Goyal et al.: SGD 3.2 at 8k with warmup; LARS 29 at 32k; EfficientNet RMSProp 0.256 at 4k).
CEILINGS: dict[str, tuple[float, int]] = {
    "sgd": (0.8, 1024),
    "lars": (32.0, 32768),
    "rmsprop": (0.5, 4096),
    "adamw": (1e-2, 4096),
    "lamb": (0.05, 32768),
}
#: The default half-widths when no rule gave one, and the narrowest any evidence makes them.
DEFAULT_SPREAD, MIN_SPREAD = 3.0, 2.0
#: With no weight decay advised, a linear region from 0 up to this, by kind of decay.
ZERO_DECAY_HIGH = {"coupled": 1e-4, "decoupled": 0.05}

#: The keys a tuning job may name in `tune`.
TUNABLE = (
    "learning_rate", "weight_decay", "label_smoothing", "momentum", "warmup_epochs",
    "mixup_alpha", "cutmix_alpha", "crop_scale_min", "random_erasing", "lr_schedule",
    "optimizer",
)
DEFAULT_TUNED = ("learning_rate", "weight_decay", "label_smoothing")


def ceiling(optimizer: str, batch: int) -> float:
    """The rate known to diverge with `optimizer` at `batch`."""
    rate, at_batch = CEILINGS.get(optimizer, CEILINGS["sgd"])
    return rate * max(1.0, batch / at_batch)


def narrowed(spread: float, n_evidence: int) -> float:
    """Each similar finished study narrows the region (never below MIN_SPREAD)."""
    return max(MIN_SPREAD, float(spread ** (1 / (1 + n_evidence / 4))))


def _log_region(key: str, value: float, spread: float, source: str, n_evidence: int,
                top: float | None = None, top_reason: str = "") -> SearchDimension:
    width = narrowed(spread, n_evidence)
    low, high = value / width, value * width
    reason = (f"centred on the advised {value:.3g}: {width:.3g}x below and above (log scale), "
              f"the spread of the lineage behind {source}")
    if n_evidence:
        reason += f", narrowed by {n_evidence} similar finished studies"
    if top is not None and high > top:
        high = max(top, value * 1.25)
        reason += f"; capped at {high:.3g}, {top_reason}"
    return SearchDimension(key=key, type="float", low=low, high=high, log=True, default=value,
                           reason=reason)


def build_search_space(request: RecommendationRequest, values: dict[str, Any],
                       n_evidence: int = 0,
                       spreads: dict[str, tuple[float, str]] | None = None,
                       ) -> list[SearchDimension]:
    """One dimension per tunable key, centred on the advised (possibly calibrated) value.

    `spreads` holds, per key, the half-width the last rule that set it gave and that rule's id.
    """
    spreads = spreads or {}
    optimizer = str(values["optimizer"])
    batch = int(values["batch_size"])
    lr = float(values["learning_rate"])
    lr_spread, lr_rule = spreads.get("learning_rate", (DEFAULT_SPREAD, "the advice"))
    top = ceiling(optimizer, batch)
    rate_at, at_batch = CEILINGS.get(optimizer, CEILINGS["sgd"])
    dims = [_log_region("learning_rate", lr, lr_spread, lr_rule, n_evidence, top,
                        f"where {optimizer} is known to diverge ({rate_at:g} up to batch "
                        f"{at_batch}, linear in the batch above)")]
    wd = float(values["weight_decay"])
    wd_spread, wd_rule = spreads.get("weight_decay", (DEFAULT_SPREAD, "the advice"))
    if wd > 0:
        dims.append(_log_region("weight_decay", wd, wd_spread, wd_rule, n_evidence))
    else:
        kind = "decoupled" if optimizer in ADAM_FAMILY else "coupled"
        dims.append(SearchDimension(
            key="weight_decay", type="float", low=0.0, high=ZERO_DECAY_HIGH[kind], log=False,
            default=0.0, reason=f"no decay advised ({wd_rule}); searched linearly from 0 to "
            f"{ZERO_DECAY_HIGH[kind]:g}, a light {kind} decay"))
    epochs = int(values["epochs"])
    warmup = values["warmup_epochs"]
    warmup_high = max(1, 2 * float(warmup), epochs // 10)
    optimizers = ["sgd", "adamw"] if optimizer in ("sgd", "adamw") else [optimizer]
    dims += [
        SearchDimension(key="label_smoothing", type="float", low=0.0, high=0.2,
                        default=values["label_smoothing"],
                        reason="0 (off) to 0.2, twice the 0.1 recipes use"),
        SearchDimension(key="momentum", type="float", low=0.8, high=0.99,
                        default=values["momentum"], reason="0.8 to 0.99 around the usual 0.9"),
        SearchDimension(key="warmup_epochs", type="int" if float(warmup).is_integer() else
                        "float", low=0, high=warmup_high, default=warmup,
                        reason="from no warmup to twice the advised one (at least a tenth of "
                        "the run)"),
        SearchDimension(key="mixup_alpha", type="float", low=0.0, high=1.0,
                        default=values["mixup_alpha"], reason="off to the strongest recipes'"),
        SearchDimension(key="cutmix_alpha", type="float", low=0.0, high=1.0,
                        default=values["cutmix_alpha"], reason="off to the recipes' 1.0"),
        SearchDimension(key="crop_scale_min", type="float", low=0.08, high=1.0,
                        default=values["crop_scale"][0],
                        reason="from ImageNet's 8% crop to no crop"),
        SearchDimension(key="random_erasing", type="float", low=0.0, high=0.5,
                        default=values["random_erasing"], reason="off to twice the recipes' 0.25"),
        SearchDimension(key="lr_schedule", type="categorical",
                        choices=list(SEARCHED),
                        default=values["lr_schedule"], reason="the three decays recipes use"),
        SearchDimension(key="optimizer", type="categorical", choices=optimizers,
                        default=optimizer, reason="the advised optimizer and its usual "
                        "alternative"),
    ]
    return dims
