"""The regularisation rules: weight decay, no bias decay, and label smoothing.

Weight decay by optimizer convention, model size, data size, augmentation and schedule length;
label smoothing by model size, task, schedule length and, when fine-tuning, the recipe lineage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import ADJUST, BASE, REFINE, Context, Decision, Rule
from advisor.rules._data_size import (
    IMAGENET_IMAGES,
    LARGE_DATA_IMAGES,
    LARGE_TARGET_IMAGES,
    SMALL_DATA_SMOOTHING,
    small_data_weight,
)
from advisor.rules._fine_tune import follows_sgd_lineage
from advisor.rules._format import num, round_sig
from advisor.rules._registry import register
from advisor.rules._scale import clamp, log_blend
from advisor.schemas import ADAM_FAMILY, COUPLED_DECAY, SGD_FAMILY

#: Models at least this large take the guidance's standard 1e-4 with SGD.
LARGE_MODEL_M = 12.0
#: Models at most this large take the small-network value (the guidance gives 1e-5 ~ 4e-5).
SMALL_MODEL_M = 3.0
SGD_DECAY_LARGE, SGD_DECAY_SMALL = 1e-4, 3e-5


def sgd_decay_for_size(params_millions: float) -> float:
    """1e-4 from 12M parameters up, 3e-5 at 3M and below, log-linear in between."""
    if params_millions >= LARGE_MODEL_M:
        return SGD_DECAY_LARGE
    if params_millions <= SMALL_MODEL_M:
        return SGD_DECAY_SMALL
    position = math.log(params_millions / SMALL_MODEL_M) / math.log(LARGE_MODEL_M / SMALL_MODEL_M)
    return round_sig(SGD_DECAY_SMALL * (SGD_DECAY_LARGE / SGD_DECAY_SMALL) ** position, 2)


@register
class DecayByOptimizerAndSize(Rule):
    id = "wd.model_size"
    sets = ("weight_decay",)
    stage = BASE
    summary = (
        "Weight decay is an L2 penalty; too much makes small networks underfit. With SGD, 1e-4 "
        "for most networks and 1e-5 ~ 4e-5 for small ones such as MobileNets (MobileNetV1_x0_25: "
        "3e-5 beats 1e-4, 51.45% vs 50.41%). RMSProp recipes use 1e-5. AdamW decouples the "
        "decay from the gradient, so its value is on another scale: 0.05 for transformers."
    )
    sources = (src.WEIGHT_DECAY,)
    references = ("Loshchilov & Hutter 2019, AdamW (decoupled weight decay)",
                  "Touvron et al. 2021, DeiT (0.05)", "Tan & Le 2019, EfficientNet (1e-5)",
                  "Mehta & Rastegari 2022, MobileViT (0.01)",
                  "Wightman et al. 2021, ResNet strikes back (LAMB, 0.01-0.02)")
    example = ({"model": {"name": "MobileNetV1_x0_25"}, "training": {"epochs": 120}},
               {"weight_decay": 3e-5})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        size, optimizer = ctx.model.params_millions, ctx.optimizer
        if ctx.model.kind == "nas_convnet" and optimizer in ("sgd", "rmsprop"):
            value, why = 1e-5, ("the EfficientNet/MobileNetV3 lineage regularises with dropout "
                                "and augmentation and keeps L2 decay at 1e-5, whichever of "
                                "RMSProp or SGD trains it")
        elif optimizer in SGD_FAMILY:
            value = sgd_decay_for_size(size)
            if size >= LARGE_MODEL_M:
                why = f"{size:g}M parameters is not a small network: the standard 1e-4 (L2)"
            elif size <= SMALL_MODEL_M:
                why = (f"{size:g}M parameters is a small network that underfits with 1e-4: "
                       f"{num(value)} (L2)")
            else:
                why = (f"{size:g}M parameters lies between small (3M: 3e-5) and standard (12M: "
                       f"1e-4) networks: {num(value)} (L2, log-interpolated)")
        elif optimizer == "rmsprop":
            value, why = 1e-5, "the RMSProp recipes (EfficientNet, MobileNetV3) use 1e-5 (L2)"
        elif optimizer == "adamw":
            if ctx.model.family == "vit":
                value, why = 0.12, ("plain ViT recipes disagree: 0.3 in the ViT paper and "
                                    "torchvision, 0.05 in DeiT; 0.12, their geometric mean, is "
                                    "within 2.5x of both (decoupled)")
            elif ctx.model.kind == "hybrid":
                value, why = 0.01, ("small conv/transformer hybrids underfit with 0.05; their "
                                    "recipe uses 0.01 (decoupled)")
            else:
                value, why = 0.05, "0.05 decoupled weight decay, as the AdamW vision recipes use"
        else:  # lamb
            transformer = ctx.model.kind in TRANSFORMER_KINDS
            value = 0.05 if transformer else 0.02
            why = f"LAMB decays decoupled like AdamW: {num(value)} as in its vision recipes"
        yield Decision("weight_decay", value, why)


@register
class DecayByDatasetSize(Rule):
    id = "wd.dataset_size"
    sets = ("weight_decay",)
    stage = ADJUST
    summary = (
        "A small data set overfits, so raise L2 decay; a very large one underfits, so lower "
        "it: scaled by sqrt(ImageNet size / your size), between 0.5x and 5x. Small data sets "
        "trained from scratch with SGD follow the CIFAR lineage whatever the network's size: "
        "5e-4 (WRN, pytorch-cifar) or 1e-4 (ResNet, DenseNet on CIFAR), so 2.2e-4, their "
        "geometric mean, below 100k images, moving log-linearly to the scaled ImageNet value "
        "by 640k."
    )
    sources = (src.WEIGHT_DECAY,)
    references = ("Zagoruyko & Komodakis 2016, Wide ResNet (CIFAR: 5e-4)",
                  "He et al. 2016, ResNet, section 4.2 (CIFAR-10: 1e-4)",
                  "Huang et al. 2017, DenseNet (CIFAR: 1e-4)")
    example = ({"model": {"name": "resnet50"},
                "dataset": {"num_train_images": 50000, "num_classes": 10, "image_size": 32}},
               {"weight_decay": 2.2e-4})

    def applies(self, ctx: Context) -> bool:
        small = ctx.num_images < LARGE_DATA_IMAGES and ctx.optimizer in SGD_FAMILY
        return (ctx.optimizer in COUPLED_DECAY and not ctx.request.training.pretrained
                and (small or not 0.8 * IMAGENET_IMAGES <= ctx.num_images
                     <= 1.25 * IMAGENET_IMAGES))

    def decide(self, ctx: Context) -> Iterable[Decision]:
        factor = size_factor(ctx.num_images)
        before = float(ctx.values["weight_decay"])
        value = round_sig(before * factor, 2)
        direction = "overfit" if factor > 1 else "underfit"
        why = (f"{ctx.num_images:,} training images tend to {direction}: {num(before)} x "
               f"{factor:.2g} = {num(value)}")
        if ctx.optimizer in SGD_FAMILY and ctx.num_images < LARGE_DATA_IMAGES:
            weight = small_data_weight(ctx.num_images)
            blended = round_sig(log_blend(CIFAR_DECAY, value, weight), 2)
            if weight == 0:
                why = (f"{ctx.num_images:,} images from scratch follow the CIFAR lineage "
                       f"whatever the network's size: 5e-4 (WRN) or 1e-4 (ResNet, DenseNet), "
                       f"{num(blended)} between them")
            else:
                why += (f"; {weight:.0%} of the way (log scale) from the CIFAR lineage's "
                        f"{num(CIFAR_DECAY)} to that: {num(blended)}")
            value = blended
        yield Decision("weight_decay", value, why, spread=3.0)


def size_factor(num_images: int) -> float:
    """The guidance's decay by data-set size: sqrt(ImageNet size / yours), between 0.5 and 5."""
    return clamp(math.sqrt(IMAGENET_IMAGES / num_images), 0.5, 5.0)


#: The CIFAR-style recipes use 5e-4 (WRN, pytorch-cifar) or 1e-4 (ResNet, DenseNet): 2.2e-4 is
#: within 2.3x of both.
CIFAR_DECAY = 2.2e-4


@register
class DecayForFineTuning(Rule):
    id = "wd.fine_tune"
    sets = ("weight_decay",)
    stage = ADJUST
    summary = (
        "SGD fine-tuning of ImageNet-1k CNNs keeps the model's ImageNet decay (PaddleClas's "
        "configs), raised for small targets and lowered for large ones as the guidance says "
        "(sqrt(ImageNet size / yours), between 0.5x and 5x). Other SGD fine-tuning lineages do "
        "not decay: BiT, the ViT/VTAB fine-tuning recipes and SimCLR use none; the pretrained "
        "weights, not a penalty, keep the model near a good solution. AdamW fine-tuning of "
        "ImageNet-21k weights does not either (ConvNeXt and Swin 22k->1k: 1e-8; Hugging Face "
        "examples on ViT-21k: 0); AdamW fine-tuning of ImageNet-1k or self-supervised weights "
        "keeps the from-scratch 0.05 (DeiT and CCT transfer, MAE, BEiT)."
    )
    sources = (src.PRETRAINED, src.WEIGHT_DECAY)
    references = ("Kolesnikov et al. 2020, BiT (no weight decay)",
                  "Dosovitskiy et al. 2021, ViT, Table 4 (fine-tuning: no weight decay)",
                  "Liu et al. 2022, ConvNeXt, Table A (22k->1k: 1e-8)",
                  "He et al. 2022, MAE, Table 9 (fine-tuning: 0.05)",
                  "SHI-Labs/Compact-Transformers: configs/finetuned (CCT on Flowers: 0.05)")
    example = ({"model": {"name": "resnet50"},
                "dataset": {"num_train_images": 5000, "num_classes": 37},
                "training": {"batch_size": 64, "pretrained": True}},
               {"weight_decay": 5e-4})

    def applies(self, ctx: Context) -> bool:
        return ctx.pretrained and ctx.optimizer != "rmsprop"

    def decide(self, ctx: Context) -> Iterable[Decision]:
        if ctx.optimizer in ADAM_FAMILY and ctx.pretraining != "supervised-21k":
            yield Decision("weight_decay", 0.05, f"{ctx.pretraining} weights fine-tuned with "
                           f"{ctx.optimizer} keep the from-scratch 0.05, decoupled (DeiT and "
                           "CCT transfer, MAE, BEiT)", spread=3.0)
            return
        if follows_sgd_lineage(ctx):
            before = float(ctx.values["weight_decay"])
            factor = size_factor(ctx.num_images)
            value = round_sig(before * factor, 2)
            yield Decision("weight_decay", value, f"SGD fine-tuning of ImageNet-1k CNNs keeps "
                           f"the model's ImageNet decay, as PaddleClas's fine-tuning configs do "
                           f"(the guidance: 1e-4 for most networks, 1e-5 to 4e-5 for mobile "
                           f"ones), raised for a small target that would overfit and lowered "
                           f"for a large one (the guidance): {num(before)} x {factor:.2g} "
                           f"(sqrt({IMAGENET_IMAGES:,}/{ctx.num_images:,}), between 0.5 and 5) "
                           f"= {num(value)}", spread=3.0)
            return
        yield Decision("weight_decay", 0.0, f"fine-tuning {ctx.pretraining} weights with "
                       f"{ctx.optimizer}: no weight decay, as BiT, the ViT fine-tuning recipes, "
                       "the torchvision tutorial and the Hugging Face examples use (ConvNeXt "
                       "and Swin 22k->1k: 1e-8); the pretrained weights already keep the model "
                       "near a good solution", spread=3.0)


@register
class DecayWithStrongAugmentation(Rule):
    id = "wd.strong_augmentation"
    sets = ("weight_decay",)
    stage = REFINE
    summary = (
        "Heavier augmentation already makes training harder, so lower L2 decay: ResNet50 gains "
        "with 7e-5 instead of 1e-4 once training is harder (78.04% vs 77.65%)."
    )
    sources = (src.WEIGHT_DECAY,)
    example = ({"model": {"name": "resnet50"}, "training": {"augmentation": "strong"}},
               {"weight_decay": 7e-5})

    def applies(self, ctx: Context) -> bool:
        return (ctx.optimizer in SGD_FAMILY and ctx.augmentation == "strong"
                and ctx.model.kind != "nas_convnet")  # that lineage's 1e-5 is already minimal

    def decide(self, ctx: Context) -> Iterable[Decision]:
        before = float(ctx.values["weight_decay"])
        value = round_sig(before * 0.7, 2)
        yield Decision("weight_decay", value, f"strong augmentation already regularises: "
                       f"{num(before)} x 0.7 = {num(value)}")


@register
class DecayForLongSchedules(Rule):
    id = "wd.long_schedule"
    sets = ("weight_decay",)
    stage = REFINE
    summary = (
        "Weight decay acts at every step, so its total pull grows with the length of training; "
        "recipes of 400-600 epochs lower L2 decay in proportion (torchvision's 600-epoch "
        "recipes use 2e-5). Small data sets train for many more, shorter epochs and keep "
        "theirs (Shake-Shake: 1800 CIFAR epochs at 1e-4): the lowering fades in with the "
        "data-set size, log-linearly from 100k to 640k images."
    )
    sources = (src.WEIGHT_DECAY,)
    references = ("torchvision 'How to train state-of-the-art models' recipe (600 epochs, 2e-5)",)
    example = ({"model": {"name": "resnet50"},
                "training": {"epochs": 600, "augmentation": "standard"}},
               {"weight_decay": 5e-5})

    def applies(self, ctx: Context) -> bool:
        return (ctx.optimizer in SGD_FAMILY and ctx.epochs > 300
                and ctx.model.kind != "nas_convnet"
                and small_data_weight(ctx.num_images) > 0)  # that lineage's 1e-5 is already minimal

    def decide(self, ctx: Context) -> Iterable[Decision]:
        weight = small_data_weight(ctx.num_images)
        factor = max(1 / 3, 300 / ctx.epochs) ** weight
        before = float(ctx.values["weight_decay"])
        value = round_sig(before * factor, 2)
        why = (f"{ctx.epochs} epochs apply the decay for longer: {num(before)} x "
               f"300/{ctx.epochs} = {num(value)}")
        if weight < 1:
            why = (f"{ctx.epochs} epochs apply the decay for longer, but {ctx.num_images:,} "
                   f"images is small-data practice, which keeps its decay: (300/{ctx.epochs})"
                   f"^{weight:.2g}, {num(before)} -> {num(value)}")
        yield Decision("weight_decay", value, why)


@register
class NoBiasDecay(Rule):
    id = "wd.no_bias_decay"
    sets = ("no_bias_decay",)
    stage = BASE
    summary = (
        "Apply weight decay only to convolution and linear weights; biases and batch-norm gamma "
        "and beta stay unregularised, which avoids shrinking the normalisation scales."
    )
    sources = (src.BAG_NO_BIAS_DECAY,)
    example = ({"model": {"name": "resnet50"}}, {"no_bias_decay": True})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        yield Decision("no_bias_decay", True, "decay the weights only; biases and "
                       "normalisation parameters are left undecayed")


#: Label smoothing helps larger models; it hurt ResNet18 (70.98% -> 70.81%) in the guidance's
#: 120-epoch comparison. In long runs (150+ epochs) recipes smooth from ResNet18's size up, and
#: in very long runs (350+) even mobile networks are smoothed.
SMOOTHING_MODEL_M = 10.0
STRONG_AUG_MODEL_M = 20.0
LONG_SCHEDULE = 150
VERY_LONG_SCHEDULE = 350
#: The Inception lineage introduced label smoothing and always trains with it.
ALWAYS_SMOOTHED_FAMILIES = ("inception", "xception")


@register
class SmoothingByModelAndTask(Rule):
    id = "ls.model_size_and_task"
    sets = ("label_smoothing",)
    stage = ADJUST
    summary = (
        "Label smoothing (epsilon 0.1) is a regulariser: it lifted ResNet50_vd from 77.9% to "
        "78.4% but cost ResNet18 accuracy (70.98% -> 70.81%). Use it on large models in long "
        "or strongly augmented runs on hard tasks, always in transformer and NAS recipes. "
        "Published practice also smooths small mobile models in very long schedules (350+ "
        "epochs, e.g. MobileNetV3, GhostNet): there the extra epochs give the capacity to "
        "absorb the regulariser, so the guidance's caution is applied to shorter runs."
    )
    sources = (src.LABEL_SMOOTHING, src.BAG_LABEL_SMOOTHING, src.SURVEY_LABEL_SMOOTHING)
    references = ("Szegedy et al. 2016, Inception-v3 (epsilon 0.1)",
                  "Touvron et al. 2021, DeiT (0.1)")
    example = ({"model": {"name": "resnet18"}, "training": {"epochs": 120}},
               {"label_smoothing": 0.0})

    def applies(self, ctx: Context) -> bool:
        return not ctx.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        size, epochs, kind = ctx.model.params_millions, ctx.epochs, ctx.model.kind
        classes = ctx.request.dataset.num_classes
        hard_task = classes >= 100
        strong = ctx.augmentation == "strong"
        if kind in TRANSFORMER_KINDS:
            yield Decision("label_smoothing", 0.1, "0.1, as every recipe for this kind of "
                           "model uses")
        elif ctx.num_images < SMALL_DATA_SMOOTHING:
            yield Decision("label_smoothing", 0.0, f"{ctx.num_images:,} images: the CIFAR-"
                           "style CNN recipes (ResNet, WRN, DenseNet on CIFAR-100, SVHN, "
                           "Tiny-ImageNet) train without smoothing")
        elif kind == "nas_convnet":
            yield Decision("label_smoothing", 0.1, "0.1, as every recipe for this kind of "
                           "model uses")
        elif ctx.model.family in ALWAYS_SMOOTHED_FAMILIES:
            yield Decision("label_smoothing", 0.1, "label smoothing was introduced with "
                           "Inception-v3 and its lineage always trains with 0.1")
        elif not hard_task:
            yield Decision("label_smoothing", 0.0, f"{classes} classes is an easy task for "
                           "the model; smoothing regularises a model that is not overfitting")
        elif ((size >= SMOOTHING_MODEL_M and epochs >= LONG_SCHEDULE)
              or (size >= STRONG_AUG_MODEL_M and strong)):
            why = f"{epochs} epochs" if epochs >= LONG_SCHEDULE else "strong augmentation"
            yield Decision("label_smoothing", 0.1, f"a {size:g}M-parameter model with {why} "
                           "has the capacity to benefit: epsilon 0.1")
        elif epochs >= VERY_LONG_SCHEDULE:
            yield Decision("label_smoothing", 0.1, f"{size:g}M parameters is smallish, but in a "
                           f"{epochs}-epoch schedule published recipes smooth with 0.1 and gain")
        elif size < SMOOTHING_MODEL_M:
            yield Decision("label_smoothing", 0.0, f"{size:g}M parameters is a small model "
                           f"and {epochs} epochs too short for it to absorb the regulariser: "
                           "leave it off")
        else:
            yield Decision("label_smoothing", 0.0, f"{epochs} epochs without strong "
                           "augmentation is too short for smoothing to pay off")


@register
class SmoothingForFineTuning(Rule):
    id = "ls.fine_tune"
    sets = ("label_smoothing",)
    stage = ADJUST
    summary = (
        "The AdamW fine-tuning recipes smooth with 0.1 (DeiT and CCT transfer, MAE, BEiT, "
        "ConvNeXt and Swin 22k->1k), except on small targets from ImageNet-21k weights (the "
        "Hugging Face examples); the SGD lineages (BiT, the ViT/VTAB fine-tuning recipes, the "
        "torchvision tutorial) do not smooth."
    )
    sources = (src.LABEL_SMOOTHING, src.PRETRAINED)
    references = ("Kolesnikov et al. 2020, BiT (no label smoothing)",
                  "He et al. 2022, MAE, Table 9 (fine-tuning: label smoothing 0.1)")
    example = ({"model": {"name": "vit_b_16"},
                "dataset": {"num_train_images": 3680, "num_classes": 37},
                "training": {"batch_size": 8, "pretraining": "supervised-21k"}},
               {"label_smoothing": 0.0})

    def applies(self, ctx: Context) -> bool:
        return ctx.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        classes = ctx.request.dataset.num_classes
        large = ctx.num_images >= LARGE_TARGET_IMAGES and classes >= 100
        if ctx.optimizer in ADAM_FAMILY and (ctx.pretraining != "supervised-21k" or large):
            yield Decision("label_smoothing", 0.1, f"fine-tuning {ctx.pretraining} weights with "
                           f"{ctx.optimizer} on {ctx.num_images:,} images of {classes} "
                           "classes: 0.1, as DeiT, CCT, MAE, BEiT, ConvNeXt and Swin fine-tune")
        else:
            yield Decision("label_smoothing", 0.0, f"fine-tuning on {ctx.num_images:,} images "
                           f"with {ctx.optimizer}: no smoothing, as BiT, the ViT fine-tuning "
                           "recipes and the transfer examples use")
