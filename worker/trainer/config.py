"""The trial configuration: the project's hyperparameter names, defaults and validation.

`TrialConfig.from_mapping` reads a mapping with the project's spelling of every hyperparameter
(missing keys take the defaults below) and raises ValueError naming the key for an invalid value
and for a key the trial runner does not apply: nothing is accepted and silently ignored. The
API refuses a job whose advised configuration does not pass here (`check_applicable`).

==================== ===================== ===============================================
key                  default               meaning
==================== ===================== ===============================================
optimizer            "sgd"                 sgd, adamw, rmsprop, lamb or lars
momentum             0.9                   SGD/RMSprop/LARS momentum; Adam beta1
learning_rate        0.1                   peak learning rate
lr_schedule          "cosine"              cosine, piecewise, exponential or constant
lr_schedule_params   {}                    piecewise: milestones (epochs), gamma;
                                           exponential: gamma_per_epoch
warmup_epochs        0                     linear warmup, per step (may be fractional)
warmup_start_lr      0.0                   learning rate at the first warmup step
epochs               10
weight_decay         5e-4
no_bias_decay        True                  no decay on 1-D params (biases, norm weights)
label_smoothing      0.0
crop_scale           [0.08, 1.0]           random-resized-crop area fraction
crop_ratio           [3/4, 4/3]            random-resized-crop aspect ratio
horizontal_flip      profile's flip_ok     forced off when the data set forbids flips
mixup_alpha          0.0                   0 = off
cutmix_alpha         0.0                   0 = off; with mixup, one of them per batch
random_erasing       0.0                   probability per image, 0 = off
auto_augment         "none"                none, autoaugment (ImageNet policy), randaugment
                                           (2 ops, magnitude 9) or trivialaugment
                                           (torchvision's transforms.v2, per image)
augmentation         None                  the advisor's level (none, standard, strong): it
                                           chose the values of the augmentation keys above,
                                           which are what the runner applies; recorded only
batch_size           128
==================== ===================== ===============================================
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adamw", "rmsprop", "lamb", "lars")
SCHEDULES = ("cosine", "piecewise", "exponential", "constant")
POLICIES = ("none", "autoaugment", "randaugment", "trivialaugment")
LEVELS = ("none", "standard", "strong")
SCHEDULE_PARAMS = ("milestones", "gamma", "gamma_per_epoch")
DEFAULT_CROP_SCALE = (0.08, 1.0)
DEFAULT_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


@dataclass(frozen=True)
class TrialConfig:
    """A validated trial configuration (see the module docstring for the keys)."""

    optimizer: str = "sgd"
    momentum: float = 0.9
    learning_rate: float = 0.1
    lr_schedule: str = "cosine"
    lr_schedule_params: Mapping[str, Any] = field(default_factory=dict)
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 0.0
    epochs: int = 10
    weight_decay: float = 5e-4
    no_bias_decay: bool = True
    label_smoothing: float = 0.0
    crop_scale: tuple[float, float] = DEFAULT_CROP_SCALE
    crop_ratio: tuple[float, float] = DEFAULT_CROP_RATIO
    horizontal_flip: bool | None = None
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    random_erasing: float = 0.0
    auto_augment: str = "none"
    augmentation: str | None = None
    batch_size: int = 128

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> TrialConfig:
        """Validate `config`; missing keys get defaults, keys the runner does not apply are a
        ValueError naming them."""
        if not isinstance(config, Mapping):
            raise ValueError("config: must be a mapping of hyperparameter names to values")
        unknown = [key for key in config if key not in KEYS]
        if unknown:
            raise ValueError(f"{unknown[0]}: the trial runner cannot apply this hyperparameter "
                             f"({', '.join(map(repr, unknown))} given; it applies "
                             f"{', '.join(KEYS)})")
        defaults = cls()
        get = config.get
        epochs = _integer(get("epochs", defaults.epochs), "epochs", low=1)
        schedule = _choice(get("lr_schedule", defaults.lr_schedule), "lr_schedule", SCHEDULES)
        warmup = _number(get("warmup_epochs", 0.0), "warmup_epochs", low=0.0)
        if warmup > epochs:
            raise ValueError(f"warmup_epochs: {warmup} is more than epochs ({epochs})")
        return cls(
            optimizer=_choice(get("optimizer", defaults.optimizer), "optimizer", OPTIMIZERS),
            momentum=_number(get("momentum", 0.9), "momentum", low=0.0, high=1.0, open_high=True),
            learning_rate=_number(get("learning_rate", 0.1), "learning_rate", low=0.0,
                                  open_low=True),
            lr_schedule=schedule,
            lr_schedule_params=_schedule_params(get("lr_schedule_params"), schedule, epochs),
            warmup_epochs=warmup,
            warmup_start_lr=_number(get("warmup_start_lr", 0.0), "warmup_start_lr", low=0.0),
            epochs=epochs,
            weight_decay=_number(get("weight_decay", 5e-4), "weight_decay", low=0.0),
            no_bias_decay=_boolean(get("no_bias_decay", True), "no_bias_decay"),
            label_smoothing=_number(get("label_smoothing", 0.0), "label_smoothing", low=0.0,
                                    high=1.0, open_high=True),
            crop_scale=_range(get("crop_scale", DEFAULT_CROP_SCALE), "crop_scale", high=1.0),
            crop_ratio=_range(get("crop_ratio", DEFAULT_CROP_RATIO), "crop_ratio"),
            horizontal_flip=_optional_boolean(get("horizontal_flip"), "horizontal_flip"),
            mixup_alpha=_number(get("mixup_alpha", 0.0), "mixup_alpha", low=0.0),
            cutmix_alpha=_number(get("cutmix_alpha", 0.0), "cutmix_alpha", low=0.0),
            random_erasing=_number(get("random_erasing", 0.0), "random_erasing", low=0.0,
                                   high=1.0),
            auto_augment=_choice(get("auto_augment", "none"), "auto_augment", POLICIES),
            augmentation=None if get("augmentation") is None else _choice(
                get("augmentation"), "augmentation", LEVELS),
            batch_size=_integer(get("batch_size", 128), "batch_size", low=1),
        )


#: Every key `TrialConfig` takes, in its field order.
KEYS = tuple(f.name for f in fields(TrialConfig))
#: Keys that describe how the others were chosen rather than set anything themselves: the
#: runner checks and records them (`TrialResult.config`); every other key changes training
#: (tests/worker/test_trainer_applied.py holds that to account, key by key).
RECORDED_ONLY = ("augmentation",)


def check_applicable(config: Mapping[str, Any]) -> None:
    """ValueError naming the first key of `config` the runner cannot apply or whose value is
    invalid (the API's check of an advised configuration before it accepts a job)."""
    TrialConfig.from_mapping(config)


def _number(
    value: Any, key: str, low: float | None = None, high: float | None = None,
    open_low: bool = False, open_high: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{key}: must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if open_low else value < low)
    too_high = high is not None and (value >= high if open_high else value > high)
    if too_low or too_high:
        bounds = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"{key}: {value!r} is outside {bounds}")
    return float(value)


def _integer(value: Any, key: str, low: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{key}: must be an integer >= {low}, got {value!r}")
    return value


def _boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key}: must be true or false, got {value!r}")
    return value


def _optional_boolean(value: Any, key: str) -> bool | None:
    return None if value is None else _boolean(value, key)


def _choice(value: Any, key: str, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ValueError(f"{key}: must be one of {', '.join(allowed)}; got {value!r}")
    return value.strip().lower()


def _range(value: Any, key: str, high: float | None = None) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{key}: must be a pair [min, max], got {value!r}")
    low_value = _number(value[0], key, low=0.0, high=high, open_low=True)
    high_value = _number(value[1], key, low=0.0, high=high, open_low=True)
    if low_value > high_value:
        raise ValueError(f"{key}: min {low_value} is greater than max {high_value}")
    return low_value, high_value


def _schedule_params(value: Any, schedule: str, epochs: int) -> dict[str, Any]:
    """Check the parameters the chosen schedule reads. Parameters of another schedule are left
    out (a search may switch lr_schedule away from the advised one); unknown ones are refused."""
    key = "lr_schedule_params"
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: must be a mapping, got {value!r}")
    unknown = [name for name in value if name not in SCHEDULE_PARAMS]
    if unknown:
        raise ValueError(f"{key}.{unknown[0]}: no schedule takes this parameter; known: "
                         f"{', '.join(SCHEDULE_PARAMS)}")
    params: dict[str, Any] = {}
    if schedule == "piecewise":
        if "milestones" in value:
            milestones = value["milestones"]
            if isinstance(milestones, str) or not isinstance(milestones, Sequence):
                raise ValueError(f"{key}.milestones: must be a list of epochs")
            params["milestones"] = [
                _number(m, f"{key}.milestones", low=0.0, high=epochs, open_low=True)
                for m in milestones
            ]
        if "gamma" in value:
            params["gamma"] = _number(value["gamma"], f"{key}.gamma", low=0.0, open_low=True)
    if schedule == "exponential" and "gamma_per_epoch" in value:
        params["gamma_per_epoch"] = _number(
            value["gamma_per_epoch"], f"{key}.gamma_per_epoch", low=0.0, open_low=True
        )
    return params
