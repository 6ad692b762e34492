"""The advisor's contract: the pydantic models for requests, answers and diagnoses.

These are the only models of their kind in the project: the HTTP service and the command line
import them from here rather than declaring their own copies.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

Goal = Literal["accuracy", "fast_convergence"]
AugmentationLevel = Literal["none", "standard", "strong"]
OptimizerName = Literal["sgd", "adamw", "rmsprop", "lamb", "lars"]
#: Momentum SGD and LARS (SGD with layer-wise trust ratios): the SGD lineages, with L2 decay.
SGD_FAMILY: tuple[OptimizerName, ...] = ("sgd", "lars")
#: AdamW and LAMB (AdamW with layer-wise trust ratios): the Adam lineages, with decoupled decay.
ADAM_FAMILY: tuple[OptimizerName, ...] = ("adamw", "lamb")
#: The optimizers whose weight decay is an L2 term in the gradient (the others decouple it).
COUPLED_DECAY: tuple[OptimizerName, ...] = (*SGD_FAMILY, "rmsprop")
#: What pretrained weights learnt from: it changes the fine-tuning rate and weight decay.
Pretraining = Literal["supervised-1k", "supervised-21k", "self-supervised"]
PRETRAINING_ALIASES: dict[str, Pretraining] = {
    "supervised": "supervised-1k", "supervised_1k": "supervised-1k", "in1k": "supervised-1k",
    "imagenet_1k": "supervised-1k", "imagenet": "supervised-1k", "1k": "supervised-1k",
    "supervised_21k": "supervised-21k", "supervised_22k": "supervised-21k",
    "in21k": "supervised-21k", "in22k": "supervised-21k", "imagenet_21k": "supervised-21k",
    "imagenet_22k": "supervised-21k", "21k": "supervised-21k", "22k": "supervised-21k",
    "jft": "supervised-21k", "jft_300m": "supervised-21k",
    "self_supervised": "self-supervised", "ssl": "self-supervised", "mae": "self-supervised",
    "beit": "self-supervised", "dino": "self-supervised", "simclr": "self-supervised",
    "moco": "self-supervised", "byol": "self-supervised",
}

#: Spellings practitioners use for an optimizer, mapped to the family the advisor reasons about.
OPTIMIZER_ALIASES: dict[str, OptimizerName] = {
    "sgd": "sgd",
    "momentum": "sgd",
    "sgd_momentum": "sgd",
    "nesterov": "sgd",
    "adamw": "adamw",
    "adam": "adamw",
    "rmsprop": "rmsprop",
    "rmsproptf": "rmsprop",
    "lamb": "lamb",
    "lars": "lars",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def whole_number(value: Any) -> Any:
    """``548.0`` is the integer 548 in JSON, and to JSON Schema; strict validation would refuse
    it, so a float without a fraction becomes an int first (``548.5`` is still refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer field of a request: strict (no strings, no booleans), whole floats taken. With
#: `None` allowed, write ``Annotated[int, Field(ge=...), BeforeValidator(whole_number)] | None``:
#: bounds given after the validator would reach the JSON schema as ``ge``, not ``minimum``.
JsonInt = Annotated[int, BeforeValidator(whole_number)]


class _Input(_Strict):
    """A request model: strict types. A client that sends ``0`` for a boolean or ``"256"`` for a
    number has a bug, and gets a 422 naming the field instead of a guess; an integer is still a
    number, and a whole float an integer (`JsonInt`), as JSON has one number type. Callers that
    read text (the dashboard's form) validate with ``strict=False``."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ModelSpec(_Input):
    """The network to train: a known name, or its size in millions of parameters."""

    #: The rule below, stated in the JSON schema so that clients and schemathesis know it.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}},
        {"required": ["params_millions"], "properties": {"params_millions": {"type": "number"}}},
    ]})

    name: str | None = Field(default=None, max_length=200, examples=["resnet50"])
    params_millions: float | None = Field(default=None, gt=0, le=100_000)
    family: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _is_identified(self) -> ModelSpec:
        if not self.name and self.params_millions is None:
            raise ValueError("give model.name (a known model) or model.params_millions")
        return self


class DatasetSpec(_Input):
    """The training data: how many images, how many classes, at what resolution."""

    num_train_images: JsonInt = Field(default=1_281_167, ge=1, le=10_000_000_000)
    num_classes: JsonInt = Field(default=1000, ge=2, le=1_000_000)
    image_size: JsonInt = Field(default=224, ge=8, le=4096)
    horizontal_flip_ok: bool = Field(
        default=True, description="False when mirroring an image changes its label (digits, text)."
    )


class TrainingSpec(_Input):
    """How the user intends to train; `None` fields are for the advisor to choose."""

    batch_size: JsonInt = Field(default=256, ge=1, le=1_000_000)
    num_gpus: JsonInt = Field(default=1, ge=0, le=100_000)
    epochs: Annotated[int, Field(ge=1, le=10_000), BeforeValidator(whole_number)] | None = None
    pretrained: bool = False
    goal: Goal = "accuracy"
    optimizer: OptimizerName | None = Field(
        default=None, description="A constraint the advisor works within; aliases such as "
        "'momentum' (sgd), 'adam' (adamw) and 'rmsproptf' (rmsprop) are accepted."
    )
    augmentation: AugmentationLevel | None = Field(
        default=None, description="none, standard (crop + flip) or strong (adds mixup, cutmix, "
        "RandAugment, random erasing); left empty, the advisor chooses."
    )
    pretraining: Pretraining | None = Field(
        default=None, description="What the pretrained weights learnt from: supervised-1k "
        "(ImageNet-1k labels), supervised-21k (ImageNet-21k or larger labelled sets) or "
        "self-supervised (MAE, BEiT, DINO, SimCLR); aliases such as 'in21k', 'in22k', 'jft' "
        "and 'mae' are accepted. Implies pretrained; with pretrained and no kind, "
        "supervised-1k is assumed."
    )

    @model_validator(mode="before")
    @classmethod
    def _normalise_optimizer(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("optimizer"), str):
            spelled = data["optimizer"].strip().lower().replace("-", "_")
            data = {**data, "optimizer": OPTIMIZER_ALIASES.get(spelled, spelled)}
        if isinstance(data, dict) and isinstance(data.get("pretraining"), str):
            spelled = data["pretraining"].strip().lower().replace("-", "_")
            data = {**data, "pretraining": PRETRAINING_ALIASES.get(spelled, data["pretraining"])}
        return data

    @model_validator(mode="after")
    def _pretraining_implies_pretrained(self) -> TrainingSpec:
        if self.pretraining is not None:
            self.pretrained = True
        return self


class RecommendationRequest(_Input):
    """A training profile: model, data and set-up."""

    model: ModelSpec
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)


class Source(_Strict):
    """A place in the guidance that backs a rule: a file under guidance/ and its section."""

    document: str
    section: str


class Explanation(_Strict):
    """Why one hyperparameter has its value: the rule that set it, in plain words, with sources."""

    key: str
    value: Any
    rule: str = Field(description="Id of the rule that set the final value.")
    rules: list[str] = Field(description="Every rule that contributed, in the order applied.")
    reason: str
    sources: list[Source]
    references: list[str] = Field(
        default_factory=list, description="Published recipes or papers the value also follows."
    )


class SearchDimension(_Strict):
    """The region worth tuning for one hyperparameter, as plain data a tuner can use."""

    key: str
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    default: Any = None
    reason: str | None = Field(default=None, description="Why the region is where it is: its "
                               "centre, its width and what bounds it.")


class Advice(_Strict):
    """A trick that is not a single number: when it pays and where it comes from."""

    id: str
    text: str
    sources: list[Source]
    references: list[str] = Field(default_factory=list)


ScheduleName = Literal["cosine", "piecewise", "exponential", "constant"]
PolicyName = Literal["none", "autoaugment", "randaugment", "trivialaugment"]
Positive = Annotated[float, Field(gt=0)]


class ScheduleParams(_Input):
    """Parameters of a decay schedule: ``piecewise`` reads milestones (epochs from the start)
    and gamma, ``exponential`` reads gamma_per_epoch; the others read none."""

    milestones: list[Positive] | None = None
    gamma: Positive | None = None
    gamma_per_epoch: Positive | None = None


class Hyperparameters(_Input):
    """Every value a recommendation sets, typed: the contract between the advisor, the search
    and the trial runner (`Recommendation.typed_hyperparameters`). Unknown keys are refused,
    so a value nobody applies cannot get in; missing ones take the defaults below."""

    optimizer: OptimizerName = "sgd"
    momentum: float = Field(default=0.9, ge=0, lt=1)
    learning_rate: float = Field(default=0.1, gt=0)
    lr_schedule: ScheduleName = "cosine"
    lr_schedule_params: ScheduleParams = Field(default_factory=ScheduleParams)
    warmup_epochs: float = Field(default=0.0, ge=0)
    warmup_start_lr: float = Field(default=0.0, ge=0)
    epochs: Annotated[int, Field(ge=1), BeforeValidator(whole_number)] = 10
    batch_size: Annotated[int, Field(ge=1), BeforeValidator(whole_number)] = 128
    weight_decay: float = Field(default=5e-4, ge=0)
    no_bias_decay: bool = True
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    augmentation: AugmentationLevel | None = None
    crop_scale: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.08, 1.0], min_length=2, max_length=2)
    crop_ratio: list[Positive] = Field(default_factory=lambda: [3 / 4, 4 / 3], min_length=2,
                                       max_length=2)
    horizontal_flip: bool | None = None
    mixup_alpha: float = Field(default=0.0, ge=0)
    cutmix_alpha: float = Field(default=0.0, ge=0)
    auto_augment: PolicyName = "none"
    random_erasing: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> Hyperparameters:
        if self.warmup_epochs > self.epochs:
            raise ValueError(f"warmup_epochs: {self.warmup_epochs} is more than epochs "
                             f"({self.epochs})")
        for key in ("crop_scale", "crop_ratio"):
            low, high = getattr(self, key)
            if low > high:
                raise ValueError(f"{key}: min {low} is greater than max {high}")
        for milestone in self.lr_schedule_params.milestones or ():
            if milestone > self.epochs:
                raise ValueError(f"lr_schedule_params.milestones: {milestone} is after the "
                                 f"last epoch ({self.epochs})")
        return self


class Recommendation(_Strict):
    """The advisor's answer: values, one explanation per value, the search region, warnings."""

    model: str
    model_family: str | None
    params_millions: float
    hyperparameters: dict[str, Any]
    explanations: list[Explanation]
    search_space: list[SearchDimension]
    advice: list[Advice] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    rule_based: dict[str, Any] = Field(
        default_factory=dict, description="For keys that evidence from finished studies moved: "
        "the value the rules alone gave.")

    def explanation(self, key: str) -> Explanation:
        return next(e for e in self.explanations if e.key == key)

    def typed_hyperparameters(self) -> Hyperparameters:
        """The values as the typed contract (a ValidationError names a value outside it)."""
        return Hyperparameters.model_validate(self.hyperparameters)


# --- evidence from finished studies --------------------------------------------------------------


class EvidenceProfile(_Strict):
    """The set-up a finished study ran with: what similarity between studies is judged on."""

    model_family: str | None = None
    params_millions: float = Field(gt=0)
    num_train_images: int = Field(ge=1)
    num_classes: int = Field(ge=2)
    image_size: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    epochs: int = Field(ge=1)
    optimizer: str
    pretrained: bool = False


class EvidenceRecord(_Strict):
    """What one finished tuning study says about the advisor's configuration. Plain data: the
    worker writes it, the api hands records to `recommend`, the advisor never reads storage."""

    job_id: int | str
    profile: EvidenceProfile
    advised: dict[str, Any] = Field(description="The advisor's configuration (tuned keys).")
    best: dict[str, Any] = Field(description="The best trial's values of the same keys.")
    advised_value: float | None = None
    best_value: float | None = None
    advisor_rank: int | None = Field(default=None, description="1 = the advisor's trial won.")
    advisor_percentile: float | None = Field(default=None, ge=0, le=100)
    n_complete: int = Field(default=0, ge=0)
    log_ratios: dict[str, float] = Field(
        default_factory=dict, description="ln(best / advised) per log-scaled numeric key.")
    differences: dict[str, float] = Field(
        default_factory=dict, description="best - advised per linear numeric key.")
    categorical_wins: dict[str, Any] = Field(
        default_factory=dict, description="Categorical keys whose best value differed.")
    importances: dict[str, float] = Field(default_factory=dict)


# --- diagnosis ---------------------------------------------------------------------------------

DiagnosisState = Literal["overfitting", "underfitting", "healthy", "diverging", "not_converged"]


class Curves(_Strict):
    """Per-epoch accuracies (fractions 0..1 or percentages) and optional losses of one run."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    train_accuracy: list[float] = Field(
        min_length=1, max_length=100_000,
        validation_alias=AliasChoices("train_accuracy", "train_acc", "train_top1"))
    val_accuracy: list[float] = Field(
        min_length=1, max_length=100_000,
        validation_alias=AliasChoices("val_accuracy", "val_acc", "validation_accuracy",
                                      "test_accuracy", "test_acc", "val_top1"))
    train_loss: list[float] | None = Field(default=None, max_length=100_000)
    val_loss: list[float] | None = Field(
        default=None, max_length=100_000,
        validation_alias=AliasChoices("val_loss", "validation_loss", "test_loss"))
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="The hyperparameters the run used (contract keys), so changes can name values.",
    )

    @model_validator(mode="after")
    def _same_length(self) -> Curves:
        if len(self.train_accuracy) != len(self.val_accuracy):
            raise ValueError("train_accuracy and val_accuracy must have one value per epoch each")
        return self


class Change(_Strict):
    """One concrete change to make, explained and sourced like a recommendation."""

    key: str
    current: Any = None
    suggested: Any = None
    action: str
    rule: str
    reason: str
    sources: list[Source]
    references: list[str] = Field(default_factory=list)


class Diagnosis(_Strict):
    """What a run's curves say: the state, the measurements it was read from, and the changes."""

    state: DiagnosisState
    evidence: dict[str, float] = Field(
        description="The measurements taken from the curves (final and best accuracies, the "
                    "train-validation gap, slopes over the last quarter) that the state was "
                    "read from; not records of finished studies.")
    summary: str
    changes: list[Change]
