"""The trial configuration: the project's hyperparameter names, defaults and validation.

`TrialConfig.from_mapping` validates a mapping (a trial's configuration: the advised values
with the sampled ones in) against the advisor's typed contract, `advisor.schemas.Hyperparameters`
(one pydantic model: types, ranges, the keys there are), and raises ValueError naming the key
for an invalid value and for a key the trial runner does not apply: nothing is accepted and
silently ignored. The API refuses a job whose advised configuration does not pass here
(`check_applicable`). Missing keys take the defaults below.

==================== ===================== ===============================================
key                  default               meaning
==================== ===================== ===============================================
optimizer            "sgd"                 sgd, adamw, rmsprop, lamb or lars
momentum             0.9                   SGD/RMSprop/LARS momentum; Adam beta1
learning_rate        0.1                   peak learning rate
lr_schedule          "cosine"              cosine, piecewise, exponential or constant
lr_schedule_params   the schedule's        piecewise: milestones (epochs), gamma;
                     (advisor.schedules)   exponential: gamma_per_epoch; what is not given
                                           is the advisor's default for the epochs
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
                                           (2 ops, magnitude 9 of 10, std 0.5) or
                                           trivialaugment (torchvision's transforms.v2,
                                           a fresh draw every few images)
augmentation         None                  the advisor's level (none, standard, strong): it
                                           chose the values of the augmentation keys above,
                                           which are what the runner applies; recorded only
batch_size           128
==================== ===================== ===============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from pydantic import ValidationError

from advisor.schedules import params_for
from advisor.schemas import (
    AugmentationLevel,
    Hyperparameters,
    OptimizerName,
    PolicyName,
    ScheduleName,
    ScheduleParams,
)

#: The optimizer and schedule names are the advisor's (`advisor.schemas`), never spelled here.
OPTIMIZERS: tuple[OptimizerName, ...] = get_args(OptimizerName)
SCHEDULES: tuple[ScheduleName, ...] = get_args(ScheduleName)
POLICIES: tuple[str, ...] = get_args(PolicyName)
LEVELS: tuple[str, ...] = get_args(AugmentationLevel)
SCHEDULE_PARAMS = tuple(ScheduleParams.model_fields)
DEFAULT_CROP_SCALE = (0.08, 1.0)
DEFAULT_CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)


@dataclass(frozen=True)
class TrialConfig:
    """A validated trial configuration (see the module docstring for the keys)."""

    optimizer: OptimizerName = "sgd"
    momentum: float = 0.9
    learning_rate: float = 0.1
    lr_schedule: ScheduleName = "cosine"
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
    def from_mapping(cls, config: Mapping[str, Any] | Hyperparameters) -> TrialConfig:
        """Validate `config` against the advisor's typed contract (`Hyperparameters`); missing
        keys get defaults, keys the runner does not apply are a ValueError naming them."""
        if isinstance(config, Hyperparameters):
            return cls.from_hyperparameters(config)
        if not isinstance(config, Mapping):
            raise ValueError("config: must be a mapping of hyperparameter names to values")
        unknown = [key for key in config if key not in KEYS]
        if unknown:
            raise ValueError(f"{unknown[0]}: the trial runner cannot apply this hyperparameter "
                             f"({', '.join(map(repr, unknown))} given; it applies "
                             f"{', '.join(KEYS)})")
        try:
            typed = Hyperparameters.model_validate(dict(config))
        except ValidationError as error:
            raise ValueError(_first_problem(error)) from None
        return cls.from_hyperparameters(typed)

    @classmethod
    def from_hyperparameters(cls, values: Hyperparameters) -> TrialConfig:
        """The trainer's frozen view of validated values: the schedule's own parameters only
        (a search may switch lr_schedule away from the one the parameters were advised for),
        the ones not given filled in as the advisor would (`advisor.schedules.params_for`)."""
        params = values.lr_schedule_params.model_dump(exclude_none=True)
        copied = {f.name: getattr(values, f.name) for f in fields(cls)}
        return cls(**{**copied,
                      "lr_schedule_params": params_for(values.lr_schedule, values.epochs, params),
                      "crop_scale": (values.crop_scale[0], values.crop_scale[1]),
                      "crop_ratio": (values.crop_ratio[0], values.crop_ratio[1])})


def _first_problem(error: ValidationError) -> str:
    """'key: what is wrong' for the first error pydantic found."""
    problem = error.errors()[0]
    message = str(problem["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in problem["loc"])
    if not where:  # a check across keys: its message starts with the key
        return message
    return f"{where}: {message}, got {problem.get('input')!r}"


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


