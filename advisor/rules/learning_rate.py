"""The initial learning rate: a base rate per reference batch for each optimizer family, scaled
with the batch size, then lowered when fine-tuning pretrained weights."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from advisor import sources as src
from advisor.rules._base import ADJUST, BASE, Context, Decision, Rule
from advisor.rules._format import num, round_sig
from advisor.rules._registry import register


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
        yield Decision("learning_rate", value, f"{formula} = {num(value)} ({rate.lineage})")
        if ctx.optimizer in ("sgd", "adamw", "rmsprop") and ctx.batch_size > 8192:
            ctx.warnings.append(
                f"batch {ctx.batch_size} with {ctx.optimizer}: linear scaling has been shown to "
                "hold up to about 8k; beyond that LARS (CNNs) or LAMB (transformers) and a "
                "longer warmup are safer")


def pretrained_fraction(num_images: int) -> float:
    """The share of the from-scratch rate to fine-tune with: 1/100 below 1,000 images, 1/10
    above 100,000 (0.001 and 0.01 per 256 for SGD), log-linear in between."""
    low, high = 1_000, 100_000
    if num_images <= low:
        return 0.01
    if num_images >= high:
        return 0.1
    position = (math.log(num_images) - math.log(low)) / (math.log(high) - math.log(low))
    return 0.01 * 10**position


@register
class PretrainedByDatasetSize(Rule):
    id = "lr.pretrained_by_dataset_size"
    sets = ("learning_rate",)
    stage = ADJUST
    summary = (
        "Fine-tuning from ImageNet weights needs a smaller rate so the pretrained features are "
        "not destroyed: 0.001 per 256 for fewer than 1,000 images, 0.01 or more per 256 above "
        "100,000 (SGD); other optimizers take the same fraction of their own base rate."
    )
    sources = (src.PRETRAINED,)
    example = (
        {"model": {"name": "resnet50"}, "dataset": {"num_train_images": 800, "num_classes": 5},
         "training": {"batch_size": 256, "pretrained": True}},
        {"learning_rate": 0.001},
    )

    def applies(self, ctx: Context) -> bool:
        return ctx.request.training.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        fraction = pretrained_fraction(ctx.num_images)
        scratch = float(ctx.values["learning_rate"])
        value = round_sig(scratch * fraction)
        yield Decision("learning_rate", value, f"fine-tuning on {ctx.num_images:,} images: "
                       f"{num(scratch)} x {num(round_sig(fraction))} = {num(value)}, so the "
                       "pretrained weights are refined rather than overwritten")


#: Below this many images the ImageNet base rate is measurably too low for training from scratch.
SMALL_DATA_IMAGES = 100_000
SMALL_DATA_MAX_FACTOR = 10.0
SGD_MAX_RATE = 2.0


def small_data_factor(num_images: int) -> float:
    """(100k / images)^0.6, between 1 and 10: 10x for ~2k images, ~1.5x for CIFAR's 50k."""
    factor: float = (SMALL_DATA_IMAGES / num_images) ** 0.6
    return min(SMALL_DATA_MAX_FACTOR, max(1.0, factor))


@register
class SmallDataFromScratch(Rule):
    id = "lr.small_data_from_scratch"
    sets = ("learning_rate",)
    stage = ADJUST
    summary = (
        "The ImageNet base rate (0.1 per 256) comes from runs of 100k+ steps on 1.28M images. "
        "Small data sets trained from scratch take far fewer steps and, measured here, peak "
        "at 10-30x that rate (8x8 digits, 1.4k images: best ~1.0 at batch 128 against 0.05; "
        "resnet8 on 800 digits: best 0.17-0.37 against 0.0125). The rate is raised by "
        "(100k / images)^0.6, at most 10x (and at most 2.0): CIFAR-sized data gets ~1.5x."
    )
    sources = (src.LEARNING_RATE, src.BATCH_SIZE)
    references = ("shared/MEASUREMENTS.md (digits, learning rate x augmentation table)",
                  "bench/RESULTS.md, Seeded search (digits, resnet8)")
    example = ({"model": {"name": "resnet20", "params_millions": 0.27},
                "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32},
                "training": {"batch_size": 128, "epochs": 15}},
               {"learning_rate": 0.5})

    def applies(self, ctx: Context) -> bool:
        return (ctx.optimizer in ("sgd", "lars") and not ctx.request.training.pretrained
                and ctx.num_images < SMALL_DATA_IMAGES)

    def decide(self, ctx: Context) -> Iterable[Decision]:
        factor = small_data_factor(ctx.num_images)
        before = float(ctx.values["learning_rate"])
        value = round_sig(min(SGD_MAX_RATE, before * factor))
        capped = " (capped at 2.0)" if before * factor > SGD_MAX_RATE else ""
        yield Decision("learning_rate", value, f"{ctx.num_images:,} images from scratch take "
                       f"few steps: {num(before)} x {factor:.3g} = {num(value)}{capped}, as "
                       "measured on small data sets")
