"""The region worth tuning around a recommendation, as plain data a tuner can use.

Ranges are multiplicative around the advised value for rates and decays (searched on a log
scale), and wider for small data sets trained from scratch, where ImageNet-derived values are
furthest from the optimum (measured: on 8x8 digits the best SGD rate was ~20x linear scaling).
"""

from __future__ import annotations

from typing import Any

from advisor.schemas import RecommendationRequest, SearchDimension

#: (below, above) factors around the advised value: ImageNet-scale data vs small data.
RATE_SPAN = {"large": (4.0, 4.0), "small": (10.0, 30.0)}
DECAY_SPAN = {"large": (3.0, 3.0), "small": (10.0, 10.0)}
SMALL_DATA_IMAGES = 100_000

#: The keys a tuning job may name in `tune`.
TUNABLE = (
    "learning_rate", "weight_decay", "label_smoothing", "momentum", "warmup_epochs",
    "mixup_alpha", "cutmix_alpha", "crop_scale_min", "random_erasing", "lr_schedule",
    "optimizer",
)
DEFAULT_TUNED = ("learning_rate", "weight_decay", "label_smoothing")


def _span(table: dict[str, tuple[float, float]], small: bool,
          n_evidence: int) -> tuple[float, float]:
    """The factors below and above; each similar finished study narrows them (never below 2x)."""
    narrowing = 1 + n_evidence / 4
    below, above = table["small" if small else "large"]
    return max(2.0, below ** (1 / narrowing)), max(2.0, above ** (1 / narrowing))


def build_search_space(request: RecommendationRequest, values: dict[str, Any],
                       n_evidence: int = 0) -> list[SearchDimension]:
    """One dimension per tunable key, centred on the advised (possibly calibrated) value."""
    small = request.dataset.num_train_images < SMALL_DATA_IMAGES
    lr = float(values["learning_rate"])
    lr_below, lr_above = _span(RATE_SPAN, small, n_evidence)
    wd = float(values["weight_decay"])
    wd_below, wd_above = _span(DECAY_SPAN, small, n_evidence)
    epochs = int(values["epochs"])
    optimizers = ["sgd", "adamw"] if values["optimizer"] in ("sgd", "adamw") else [
        values["optimizer"]]
    return [
        SearchDimension(key="learning_rate", type="float", low=lr / lr_below,
                        high=lr * lr_above, log=True, default=lr),
        SearchDimension(key="weight_decay", type="float", low=wd / wd_below,
                        high=wd * wd_above, log=True, default=wd),
        SearchDimension(key="label_smoothing", type="float", low=0.0, high=0.2,
                        default=values["label_smoothing"]),
        SearchDimension(key="momentum", type="float", low=0.8, high=0.99,
                        default=values["momentum"]),
        SearchDimension(key="warmup_epochs", type="int", low=0,
                        high=max(1, 2 * int(values["warmup_epochs"]), epochs // 10),
                        default=values["warmup_epochs"]),
        SearchDimension(key="mixup_alpha", type="float", low=0.0, high=1.0,
                        default=values["mixup_alpha"]),
        SearchDimension(key="cutmix_alpha", type="float", low=0.0, high=1.0,
                        default=values["cutmix_alpha"]),
        SearchDimension(key="crop_scale_min", type="float", low=0.08, high=1.0,
                        default=values["crop_scale"][0]),
        SearchDimension(key="random_erasing", type="float", low=0.0, high=0.5,
                        default=values["random_erasing"]),
        SearchDimension(key="lr_schedule", type="categorical",
                        choices=["cosine", "piecewise", "exponential"],
                        default=values["lr_schedule"]),
        SearchDimension(key="optimizer", type="categorical", choices=optimizers,
                        default=values["optimizer"]),
    ]
