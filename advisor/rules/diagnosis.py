"""Rules that turn a diagnosed state into concrete changes to a configuration.

Each rule handles one state and one hyperparameter: given the run's configuration (contract
keys; any may be missing) it proposes a new value with the reason, or nothing when the key is
already where the guidance would move it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from advisor import sources as src
from advisor.rules._format import num, round_sig
from advisor.schemas import DiagnosisState
from advisor.sources import Section


@dataclass(frozen=True)
class Proposal:
    current: Any
    suggested: Any
    action: str
    reason: str


class DiagnosisRule(ABC):
    """One change for one state: `propose` returns None when it has nothing to change."""

    id: ClassVar[str]
    state: ClassVar[DiagnosisState]
    key: ClassVar[str]
    sources: ClassVar[tuple[Section, ...]]

    @abstractmethod
    def propose(self, config: dict[str, Any]) -> Proposal | None: ...


DIAGNOSIS_RULES: list[DiagnosisRule] = []


def register_diagnosis(cls: type[DiagnosisRule]) -> type[DiagnosisRule]:
    DIAGNOSIS_RULES.append(cls())
    return cls


def _float(config: dict[str, Any], key: str) -> float | None:
    value = config.get(key)
    return float(value) if isinstance(value, int | float) else None


@register_diagnosis
class OverfitRaiseDecay(DiagnosisRule):
    id = "diagnose.overfit.weight_decay"
    state = "overfitting"
    key = "weight_decay"
    sources = (src.TRAIN_VS_TEST, src.WEIGHT_DECAY)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "weight_decay")
        if current is None:
            return Proposal(None, None, "raise weight_decay (about 3x)",
                            "more L2 decay is the first lever against overfitting")
        suggested = round_sig(current * 3, 2)
        return Proposal(current, suggested, f"raise weight_decay from {num(current)} to "
                        f"{num(suggested)}", "the model memorises the training set; stronger "
                        "L2 decay pulls it back towards simpler functions")


@register_diagnosis
class OverfitSmoothLabels(DiagnosisRule):
    id = "diagnose.overfit.label_smoothing"
    state = "overfitting"
    key = "label_smoothing"
    sources = (src.TRAIN_VS_TEST, src.LABEL_SMOOTHING)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "label_smoothing")
        if current is not None and current >= 0.1:
            return None
        return Proposal(current, 0.1, "turn label smoothing on (epsilon 0.1)",
                        "soft targets stop the model from driving its logits to extremes on "
                        "the training labels")


@register_diagnosis
class OverfitAugmentMore(DiagnosisRule):
    id = "diagnose.overfit.augmentation"
    state = "overfitting"
    key = "mixup_alpha"
    sources = (src.TRAIN_VS_TEST, src.AUGMENTATION)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "mixup_alpha")
        if current is not None and current >= 0.2:
            return None
        return Proposal(current, 0.2, "add mixup (alpha 0.2) or cutmix (alpha 1.0)",
                        "mixing images makes the training task harder to memorise; on "
                        "ResNet50 each added about a point")


@register_diagnosis
class OverfitCropHarder(DiagnosisRule):
    id = "diagnose.overfit.crop_scale"
    state = "overfitting"
    key = "crop_scale"
    sources = (src.TRAIN_VS_TEST, src.SMALL_MODEL_CROP)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        scale = config.get("crop_scale")
        if not isinstance(scale, list | tuple) or float(scale[0]) <= 0.08:
            return None
        suggested = [max(0.08, round_sig(float(scale[0]) / 2, 2)), float(scale[1])]
        return Proposal(list(scale), suggested, f"lower the crop scale's minimum from "
                        f"{num(float(scale[0]))} to {num(suggested[0])}",
                        "smaller crops show the model more varied views of each image")


@register_diagnosis
class UnderfitLowerDecay(DiagnosisRule):
    id = "diagnose.underfit.weight_decay"
    state = "underfitting"
    key = "weight_decay"
    sources = (src.TRAIN_VS_TEST, src.WEIGHT_DECAY)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "weight_decay")
        if current is None:
            return Proposal(None, None, "lower weight_decay (about 3x)",
                            "too much L2 decay keeps the model from fitting the data")
        suggested = round_sig(current / 3, 2)
        return Proposal(current, suggested, f"lower weight_decay from {num(current)} to "
                        f"{num(suggested)}", "the model cannot fit even the training set; "
                        "weaker L2 decay frees its capacity (MobileNetV1_x0_25 gained a point "
                        "going from 1e-4 to 3e-5)")


@register_diagnosis
class UnderfitNoSmoothing(DiagnosisRule):
    id = "diagnose.underfit.label_smoothing"
    state = "underfitting"
    key = "label_smoothing"
    sources = (src.TRAIN_VS_TEST, src.LABEL_SMOOTHING)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "label_smoothing")
        if not current:
            return None
        return Proposal(current, 0.0, f"turn label smoothing off (from {num(current)} to 0)",
                        "smoothing is a regulariser; an underfitting model needs less of it")


@register_diagnosis
class UnderfitLessMixing(DiagnosisRule):
    id = "diagnose.underfit.augmentation"
    state = "underfitting"
    key = "mixup_alpha"
    sources = (src.TRAIN_VS_TEST, src.AUGMENTATION)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        mixup = _float(config, "mixup_alpha") or 0.0
        cutmix = _float(config, "cutmix_alpha") or 0.0
        if mixup == 0 and cutmix == 0:
            return None
        return Proposal(mixup, 0.0, "turn mixup and cutmix off", "mixed images make the "
                        "training task harder than the model can handle")


@register_diagnosis
class UnderfitCropGentler(DiagnosisRule):
    id = "diagnose.underfit.crop_scale"
    state = "underfitting"
    key = "crop_scale"
    sources = (src.TRAIN_VS_TEST, src.SMALL_MODEL_CROP)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        scale = config.get("crop_scale")
        low = float(scale[0]) if isinstance(scale, list | tuple) else 0.08
        if low >= 0.5:
            return None
        suggested = [min(1.0, max(0.2, round_sig(low * 2.5, 2))), 1.0]
        return Proposal(list(scale) if isinstance(scale, list | tuple) else None, suggested,
                        f"raise the crop scale's minimum from {num(low)} to {num(suggested[0])} "
                        "and narrow the aspect ratio", "larger crops and less stretching make "
                        "training easier (MobileNetV2_x0_25: [0.2, 1] beat [0.08, 1])")


@register_diagnosis
class DivergingLowerRate(DiagnosisRule):
    id = "diagnose.diverging.learning_rate"
    state = "diverging"
    key = "learning_rate"
    sources = (src.WARMUP, src.BATCH_SIZE)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "learning_rate")
        if current is None:
            return Proposal(None, None, "lower the learning rate (about 5x)",
                            "the loss blew up: the steps are too large")
        suggested = round_sig(current / 5, 3)
        return Proposal(current, suggested, f"lower learning_rate from {num(current)} to "
                        f"{num(suggested)}", "the loss blew up: the steps overshoot")


@register_diagnosis
class DivergingWarmUp(DiagnosisRule):
    id = "diagnose.diverging.warmup"
    state = "diverging"
    key = "warmup_epochs"
    sources = (src.WARMUP, src.BAG_WARMUP)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "warmup_epochs")
        if current is not None and current >= 5:
            return None
        return Proposal(current, 5, "warm up for 5 epochs from 0", "a large rate on random "
                        "initial weights is unstable; ramping it up avoids the early blow-up")


@register_diagnosis
class NotConvergedTrainLonger(DiagnosisRule):
    id = "diagnose.not_converged.epochs"
    state = "not_converged"
    key = "epochs"
    sources = (src.LR_DECAY,)

    def propose(self, config: dict[str, Any]) -> Proposal | None:
        current = _float(config, "epochs")
        if current is None:
            return Proposal(None, None, "train for about 1.5x more epochs",
                            "accuracy was still rising when training stopped")
        suggested = round(current * 1.5)
        return Proposal(int(current), suggested, f"raise epochs from {int(current)} to "
                        f"{suggested}", "accuracy was still rising when training stopped; "
                        "the decay schedule needs room to finish")
