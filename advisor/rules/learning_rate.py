"""The initial-learning-rate rules, from scratch and for fine-tuning.

A base rate per reference batch for each optimizer family, scaled with the batch size; the
small-data lineages (CIFAR-style recipes) from scratch; the fine-tuning lineages (BiT, ViT/VTAB,
ConvNeXt/Swin, MAE/BEiT, torchvision and Hugging Face examples).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import ADJUST, BASE, REFINE, Context, Decision, Rule
from advisor.rules._data_size import LARGE_DATA_IMAGES, small_data_weight
from advisor.rules._fine_tune import (
    LARGE_TARGET,
    REFERENCE_BATCH,
    SMALL_TARGET,
    follows_sgd_lineage,
)
from advisor.rules._fine_tune import batch_factor as lineage_batch_factor
from advisor.rules._format import num, round_sig
from advisor.rules._registry import register
from advisor.rules._scale import VERY_LARGE_BATCH, clamp, log_blend, log_interp, log_position
from advisor.schemas import ADAM_FAMILY, SGD_FAMILY


@dataclass(frozen=True)
class BaseRate:
    """A published base rate: `rate` at total batch `per_batch`, and how it scales with batch."""

    rate: float
    per_batch: int
    scaling: str  # "linear" or "sqrt"
    lineage: str


BASE_RATES: dict[str, BaseRate] = {
    "sgd": BaseRate(0.1, 256, "linear", "0.1 per 256 images, the ResNet/ImageNet convention"),
    "lars": BaseRate(0.1, 256, "linear", "LARS keeps SGD's 0.1 per 256 as the global rate; its "
                     "trust ratio rescales each layer"),
    "rmsprop": BaseRate(0.016, 256, "linear", "0.016 per 256 (0.256 at 4096), the EfficientNet "
                        "and MobileNetV3 RMSProp recipes"),
    "adamw": BaseRate(5e-4, 512, "linear", "5e-4 per 512, the DeiT/Swin/ConvNeXt AdamW recipes"),
    "lamb": BaseRate(5e-3, 2048, "sqrt", "5e-3 at 2048 with square-root scaling, the LAMB "
                     "recipes (ResNet strikes back, LAMB paper)"),
}

#: Families whose published recipes use another base rate with the same optimizer.
FAMILY_RATES: dict[tuple[str, str], BaseRate] = {
    ("sgd", "inception"): BaseRate(0.045, 256, "linear", "0.045 per 256, the Inception and "
                                   "Xception recipes"),
    ("sgd", "xception"): BaseRate(0.045, 256, "linear", "0.045 per 256, the Inception and "
                                  "Xception recipes"),
    ("sgd", "regnet"): BaseRate(0.2, 256, "linear", "0.1 per 128 (0.2 per 256), the RegNet "
                                "recipe"),
    ("sgd", "mobilenet_v2"): BaseRate(0.045, 256, "linear", "0.045 per 256, the MobileNetV2 "
                                      "recipe"),
    ("adamw", "mobilevit"): BaseRate(1e-3, 512, "linear", "2e-3 at 1024, the MobileViT recipe"),
}


#: Search half-widths (factors each way): ImageNet recipes of one lineage agree within about
#: 2x, so 3x covers them; a model known only by its size gets more room.
LINEAGE_SPREAD, UNKNOWN_SPREAD = 3.0, 4.0
#: The widest: fine-tuning lineages, whose published rates scatter most.
FINE_TUNE_SPREAD = 5.0

NO_BATCH_NORM_RATE = BaseRate(0.01, 256, "linear", "0.01 per 256: AlexNet and VGG without "
                              "batch norm diverge at the ResNet rate")


def base_rate(ctx: Context) -> BaseRate:
    optimizer = ctx.optimizer
    if ctx.model.kind == "convnet_no_bn" and optimizer == "sgd":
        return NO_BATCH_NORM_RATE
    return FAMILY_RATES.get((optimizer, ctx.model.family or ""), BASE_RATES[optimizer])


def scaled(rate: BaseRate, batch: int) -> tuple[float, str]:
    ratio = batch / rate.per_batch
    if rate.scaling == "sqrt":
        return rate.rate * math.sqrt(ratio), f"{num(rate.rate)} x sqrt({batch}/{rate.per_batch})"
    return rate.rate * ratio, f"{num(rate.rate)} x {batch}/{rate.per_batch}"


@register
class LinearScaling(Rule):
    id = "lr.linear_scaling"
    sets = ("learning_rate",)
    stage = BASE
    summary = (
        "Keep the learning rate proportional to the batch size: a batch k times larger averages "
        "away k times the gradient noise and can take a k times larger step (0.1 x b/256 for "
        "SGD). Each optimizer family has its own base rate per reference batch."
    )
    sources = (src.BATCH_SIZE, src.BAG_LINEAR_SCALING, src.SURVEY_LINEAR_SCALING)
    references = ("Goyal et al. 2017, Accurate, Large Minibatch SGD",
                  "Touvron et al. 2021, DeiT (5e-4 x batch/512)",
                  "Tan & Le 2019, EfficientNet (RMSProp 0.256 at 4096)",
                  "Radosavovic et al. 2020, RegNet (0.1 x batch/128)")
    example = ({"model": {"name": "resnet50"}, "training": {"batch_size": 1024}},
               {"learning_rate": 0.4})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        rate = base_rate(ctx)
        value, formula = scaled(rate, ctx.batch_size)
        value = round_sig(value)
        yield Decision("learning_rate", value, f"{formula} = {num(value)} ({rate.lineage})",
                       spread=LINEAGE_SPREAD if ctx.model.known else UNKNOWN_SPREAD)
        if ctx.optimizer in ("sgd", "adamw", "rmsprop") and ctx.batch_size > VERY_LARGE_BATCH:
            ctx.warnings.append(
                f"batch {ctx.batch_size} with {ctx.optimizer}: linear scaling has been shown to "
                "hold up to about 8k; beyond that LARS (CNNs) or LAMB (transformers) and a "
                "longer warmup are safer")


def pretrained_fraction(num_images: int) -> float:
    """The guidance's share of the from-scratch rate to fine-tune with: 1/100 below 1,000 images,
    1/10 above 100,000 (0.001 and 0.01 per 256 for SGD), log-linear in between."""
    return 0.01 * 10 ** log_position(num_images, SMALL_TARGET, LARGE_TARGET)


def fine_tune_rate(ctx: Context) -> tuple[float, str, float]:
    """The fine-tuning rate for this optimizer family and kind of pretraining, its reason and how
    far the lineages around it spread (a factor each way)."""
    optimizer, batch, images = ctx.optimizer, ctx.batch_size, ctx.num_images
    kind = ctx.model.kind
    if ctx.pretraining == "self-supervised":
        if optimizer in ADAM_FAMILY:
            value = 7e-4 * batch / 256
            return value, (f"self-supervised weights (MAE, BEiT) are fine-tuned near a "
                           f"from-scratch rate, with layer-wise decay: 7e-4 x {batch}/256 = "
                           f"{num(round_sig(value))} (MAE 5e-4 to 1e-3 per 256, BEiT 4e-3 at "
                           "1024)"), 3.0
        value = 0.05 * batch / 256
        return value, (f"self-supervised CNN weights (SimCLR, BYOL) are fine-tuned at 0.05 per "
                       f"256: 0.05 x {batch}/256 = {num(round_sig(value))}"), 3.0
    batch_factor = clamp(math.sqrt(batch / 512), 1 / 3, 2.0)
    batch_note = (f" x sqrt({batch}/512)" if 1 / 3 < batch_factor < 2.0 else
                  f" x {batch_factor:.2g} (sqrt({batch}/512), bounded to [1/3, 2])"
                  if batch != 512 else "")
    if optimizer in SGD_FAMILY:
        if kind in TRANSFORMER_KINDS:
            size = log_interp(images, [(2_000, 1.0), (50_000, 3.0)])
            value = 0.01 * size * batch_factor
            return value, (f"the ViT fine-tuning lineage (SGD at batch 512, no weight decay): "
                           f"0.01 on VTAB-1k-sized data rising to 0.03 from 50k images; "
                           f"{images:,} images: 0.01 x {size:.2g}{batch_note} = "
                           f"{num(round_sig(value))}"), FINE_TUNE_SPREAD
        if follows_sgd_lineage(ctx):
            return sgd_lineage_rate(ctx)
        value = 0.003 * batch_factor
        return value, (f"BiT's HyperRule fine-tunes at 0.003 with batch 512 whatever the data "
                       f"set; a fine-tuning rate is bounded by how far the pretrained weights "
                       f"may move, not by gradient noise, so it follows the batch by a square "
                       f"root at most: 0.003{batch_note} = {num(round_sig(value))} (the "
                       "torchvision transfer tutorial: 0.001 at batch 4)"), FINE_TUNE_SPREAD
    if optimizer == "adamw":
        return 3e-5, ("supervised weights fine-tuned with AdamW stay near 3e-5 whatever the "
                      "batch: 2e-5 to 5e-5 in the Hugging Face examples (batch 8 to 32), 5e-5 "
                      "at 512 for ConvNeXt 22k->1k, 4e-5 at 1024 for Swin 22k->1k"), 3.0
    rate = base_rate(ctx)
    fraction = pretrained_fraction(images)
    value = rate.rate * fraction
    return value, (f"{images:,} images: {num(rate.rate)} (the {optimizer} rate at its "
                   f"reference batch {rate.per_batch}) x {num(round_sig(fraction))} = "
                   f"{num(round_sig(value))}, so the pretrained weights are refined rather "
                   "than overwritten"), 4.0


def sgd_lineage_rate(ctx: Context) -> tuple[float, str, float]:
    """The guidance's fine-tuning share of the model's SGD rate per 256 images, by target size,
    scaled by the lineage's batch factor; the spread narrows from 5x (the widest region the
    advisor searches) on small targets, where PaddleClas's own quick-start configs train 4-12x
    above its guidance, to 3x from 100k, where its PULC configs agree within 2.5x."""
    rate, batch, images = base_rate(ctx), ctx.batch_size, ctx.num_images
    fraction = pretrained_fraction(images)
    factor = lineage_batch_factor(batch)
    per_batch = rate.rate * REFERENCE_BATCH / rate.per_batch
    value = per_batch * fraction * factor
    scaling = (f" x {batch}/{REFERENCE_BATCH} (linear above {REFERENCE_BATCH})" if factor > 1
               else f" (unscaled below batch {REFERENCE_BATCH}: PaddleClas's quick start "
               "fine-tunes at batch 20-32 with the rates it uses at 256)" if batch < REFERENCE_BATCH
               else "")
    spread = log_interp(images, [(SMALL_TARGET, FINE_TUNE_SPREAD),
                                  (LARGE_TARGET, LINEAGE_SPREAD)])
    return value, (f"SGD fine-tuning of ImageNet-1k CNNs follows the guidance: 0.001 per 256 "
                   f"below 1,000 images, 0.01 above 100,000, log-linear between; {images:,} "
                   f"images: {num(per_batch)} per {REFERENCE_BATCH} (this model's SGD rate from "
                   f"scratch) x {num(round_sig(fraction))}{scaling} = "
                   f"{num(round_sig(value))}"), spread


@register
class FineTuneRate(Rule):
    id = "lr.fine_tune"
    sets = ("learning_rate",)
    stage = ADJUST
    summary = (
        "Fine-tuning refines pretrained weights, so the rate is set by how far they may move: "
        "SGD on ImageNet-1k CNNs at the guidance's 0.001 per 256 below 1,000 images rising to "
        "0.01 from 100,000, unscaled below batch 256 and linear above (PaddleClas's fine-tuning "
        "configs); BiT's own models and ImageNet-21k CNNs at 0.003 with batch 512 (BiT's "
        "HyperRule), ViTs at 0.01-0.03 (VTAB-1k to CIFAR), following the batch by a square root "
        "at most; AdamW at 3e-5 for supervised weights "
        "(Hugging Face examples, ConvNeXt and Swin 22k->1k); self-supervised weights (MAE, "
        "BEiT, SimCLR) near a from-scratch rate per 256 with layer-wise decay."
    )
    sources = (src.PRETRAINED, src.BATCH_SIZE)
    references = (
        "Kolesnikov et al. 2020, BiT (HyperRule: SGD 0.003, batch 512, no weight decay)",
        "PaddlePaddle/PaddleClas: ppcls/configs/quick_start and ppcls/configs/PULC (SGD "
        "fine-tuning configs; docs/research/sgd_fine_tuning_configs.md, writing set)",
        "Dosovitskiy et al. 2021, ViT, Table 4 (fine-tuning: SGD, batch 512, lr 0.001-0.03)",
        "Zhai et al. 2019, VTAB-1k (1,000 images per task)",
        "Liu et al. 2022, ConvNeXt, Table A (22k->1k fine-tuning: AdamW 5e-5 at 512)",
        "He et al. 2022, MAE, Table 9 (fine-tuning: AdamW 5e-4 per 256, layer decay 0.65-0.75)",
        "Bao et al. 2022, BEiT (fine-tuning: AdamW, layer decay 0.65)",
        "pytorch/tutorials: beginner_source/transfer_learning_tutorial.py (SGD 0.001, batch 4)",
        "huggingface/transformers: examples/pytorch/image-classification (AdamW 2e-5 to 5e-5)",
    )
    example = (
        {"model": {"name": "resnet50"},
         "dataset": {"num_train_images": 150_000, "num_classes": 5},
         "training": {"batch_size": 256, "pretrained": True}},
        {"learning_rate": 0.01},
    )

    def applies(self, ctx: Context) -> bool:
        return ctx.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        value, why, spread = fine_tune_rate(ctx)
        yield Decision("learning_rate", round_sig(value), f"fine-tuning {ctx.pretraining} "
                       f"weights: {why}", spread=spread)


@dataclass(frozen=True)
class SmallDataLineage:
    rate: float
    per_batch: int
    exponent: float  # how the rate follows the batch: 0.5 is square-root scaling
    lineage: str


SMALL_DATA_RATES = {
    "sgd": SmallDataLineage(0.1, 128, 0.5, "the CIFAR lineage: SGD 0.1 at batch 128 (ResNet and "
                            "WRN on CIFAR, DenseNet at 64, pytorch-cifar), square-root scaled"),
    "adamw": SmallDataLineage(7.5e-4, 128, 0.5, "the small-data transformer lineage: AdamW "
                              "5.5e-4 to 1e-3 at batch 128 (CCT, ViT for small data sets), "
                              "square-root scaled"),
}


@register
class SmallDataFromScratch(Rule):
    id = "lr.small_data_from_scratch"
    sets = ("learning_rate",)
    stage = ADJUST
    summary = (
        "Recipes for small data sets from scratch form their own lineage: SGD at 0.1 with batch "
        "128 on CIFAR, SVHN, STL-10 and Tiny-ImageNet (ResNet, WRN, DenseNet), AdamW at about "
        "7.5e-4 with batch 128 for ViT/CCT-style models; their runs are short in steps, and "
        "their rates follow the batch by a square root rather than linearly. Below 100k images "
        "the lineage holds in full; towards 640k the rate moves log-linearly to the ImageNet "
        "value, so there is no edge."
    )
    sources = (src.LEARNING_RATE, src.BATCH_SIZE)
    references = (
        "He et al. 2016, ResNet, section 4.2 (CIFAR-10: SGD 0.1, batch 128)",
        "Zagoruyko & Komodakis 2016, Wide ResNet (CIFAR: 0.1, batch 128)",
        "kuangliu/pytorch-cifar: main.py (SGD 0.1, batch 128)",
        "Hassani et al. 2021, CCT (AdamW 5.5e-4, batch 128)",
        "Krizhevsky 2014, One weird trick (square-root scaling of the rate with the batch)",
    )
    example = ({"model": {"name": "resnet20", "params_millions": 0.27},
                "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32},
                "training": {"batch_size": 128, "epochs": 200}},
               {"learning_rate": 0.1})

    def applies(self, ctx: Context) -> bool:
        return (not ctx.pretrained and ctx.num_images < LARGE_DATA_IMAGES
                and ctx.optimizer in SMALL_DATA_RATES and ctx.model.kind != "convnet_no_bn")

    def decide(self, ctx: Context) -> Iterable[Decision]:
        lineage = SMALL_DATA_RATES[ctx.optimizer]
        batch = ctx.batch_size
        small = lineage.rate * (batch / lineage.per_batch) ** lineage.exponent
        weight = small_data_weight(ctx.num_images)
        imagenet = float(ctx.values["learning_rate"])
        value = round_sig(log_blend(small, imagenet, weight))
        formula = (f"{num(lineage.rate)} x sqrt({batch}/{lineage.per_batch}) = "
                   f"{num(round_sig(small))}")
        if weight == 0:
            why = (f"{ctx.num_images:,} images from scratch follow {lineage.lineage}: "
                   f"{formula}")
        else:
            why = (f"{ctx.num_images:,} images lie between the small-data lineage "
                   f"({formula}) and ImageNet's ({num(imagenet)}): {weight:.0%} of the way "
                   f"on a log scale, {num(value)}")
        yield Decision("learning_rate", value, why, spread=4.0)


#: Runs of fewer optimizer steps than this take a higher peak rate: a cosine decay over a few
#: hundred steps spends most of them far below the peak.
SHORT_BUDGET_STEPS = 500
SHORT_BUDGET_EXPONENT = 0.35
#: Below LEAST_STEPS (tens of steps) a higher rate is not stable without warmup (measured:
#: resnet20 on digits, 30 steps at batch 512: 0.2 reached 71%, 0.4 reached 17%); the raise
#: fades in log-linearly between LEAST_STEPS and FULL_RAISE_STEPS.
LEAST_STEPS, FULL_RAISE_STEPS = 40, 120
#: Short runs stay stable up to about this SGD rate (measured: 0.15-0.3 train resnet20 on digits
#: to 97-98% in 75-90 steps at batch 256, 1.0 to 22%).
SHORT_BUDGET_CAP = 0.25


@register
class ShortBudget(Rule):
    id = "lr.short_budget"
    sets = ("learning_rate",)
    stage = REFINE
    summary = (
        "A run of a few hundred optimizer steps (images / batch x epochs) must travel as far "
        "as a longer one in fewer, decaying steps, so small data sets trained from scratch "
        "with SGD for fewer than 500 steps take a higher peak rate: x (500 / steps)^0.35, never "
        "above 0.25, where short runs stay stable. Runs of tens of steps are not stable at a "
        "higher rate without warmup, so the raise fades out from 120 down to 40 steps "
        "(measured on digits with resnet20: 30 steps at batch 512 reached 71% at 0.2 and 17% "
        "at 0.4; 75 steps at batch 256 reached 97-98% at 0.15-0.3). It also fades out towards "
        "ImageNet-sized data, where short large-batch runs follow linear scaling."
    )
    sources = (src.LEARNING_RATE, src.BATCH_SIZE)
    references = ("Smith & Topin 2019, Super-convergence (few steps, high peak rates)",
                  "bench/demo_check.py (digits, resnet20, batch 32-512, 15 epochs)")
    example = ({"model": {"name": "resnet20", "params_millions": 0.27},
                "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32},
                "training": {"batch_size": 128, "epochs": 15}},
               {"learning_rate": 0.146})

    @staticmethod
    def steps(ctx: Context) -> float:
        """Images seen / batch, not whole batches: the rate moves smoothly with the data."""
        return max(1.0, ctx.num_images / ctx.batch_size) * ctx.epochs

    def applies(self, ctx: Context) -> bool:
        before = float(ctx.values["learning_rate"])
        return (not ctx.pretrained and ctx.optimizer in SGD_FAMILY
                and LEAST_STEPS < self.steps(ctx) < SHORT_BUDGET_STEPS
                and small_data_weight(ctx.num_images) < 1 and before < SHORT_BUDGET_CAP)

    def decide(self, ctx: Context) -> Iterable[Decision]:
        steps = self.steps(ctx)
        weight = (1 - small_data_weight(ctx.num_images)) * log_position(
            steps, LEAST_STEPS, FULL_RAISE_STEPS)
        factor = ((SHORT_BUDGET_STEPS / steps) ** SHORT_BUDGET_EXPONENT) ** weight
        before = float(ctx.values["learning_rate"])
        value = round_sig(min(before * factor, SHORT_BUDGET_CAP))
        capped = f", capped at {num(SHORT_BUDGET_CAP)}" if (
            before * factor > SHORT_BUDGET_CAP) else ""
        faded = f" (faded to {weight:.0%}: tens of steps)" if weight < 1 else ""
        yield Decision("learning_rate", value, f"{ctx.total_steps} optimizer steps "
                       f"({ctx.steps_per_epoch} per epoch x {ctx.epochs}) is a short budget: "
                       f"{num(before)} x {factor:.3g}{faded} = {num(value)}{capped}")
