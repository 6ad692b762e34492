"""The data-augmentation rules: how strong, and each augmentation's setting.

The strength, the crop scale, the flip, mixup and cutmix, the automatic policy and random
erasing.
"""

from __future__ import annotations

from collections.abc import Iterable

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import BASE, SHAPE, Context, Decision, Rule
from advisor.rules._data_size import LARGE_TARGET_IMAGES, SMALL_DATA_IMAGES
from advisor.rules._registry import register
from advisor.rules._scale import log_position
from advisor.rules.learning_rate import SHORT_BUDGET_STEPS
from advisor.schemas import ADAM_FAMILY, SGD_FAMILY

#: Below this many parameters a network underfits with the full ImageNet crop.
SMALL_CROP_MODEL_M = 2.5
#: Images this small lose their object in an 8% crop; CIFAR-style recipes crop mildly.
SMALL_IMAGE = 64

AUGMENTATION_TABLE = (
    "ResNet50 on ImageNet-1k: baseline 77.31%, AutoAugment 77.95%, Mixup 78.28%, CutMix "
    "78.39%, Cutout 78.01%, GridMask 77.85%, RandAugment 77.70%, Random Erasing 77.91%"
)


@register
class AugmentationLevel(Rule):
    id = "aug.level"
    sets = ("augmentation",)
    stage = SHAPE
    summary = (
        "How hard augmentation should make training: strong policies (mixup, cutmix, "
        "AutoAugment, random erasing) each add 0.4-1.1 points to ResNet50, but make small "
        "networks underfit and need long schedules to pay. Transformers depend on them, also "
        "when fine-tuned onto an ImageNet-scale target, but not in runs of a few hundred "
        "steps, which end underfit (measured: DeiT-Tiny from scratch, 800 images, 200 steps "
        "at batch 16: 60% with the strong policies, 99.5% with crop and flip); small targets "
        "fine-tune with crop and flip only."
    )
    sources = (src.AUGMENTATION, src.SMALL_MODEL_CROP, src.TRAIN_VS_TEST)
    references = ("Touvron et al. 2021, DeiT (RandAugment, mixup 0.8, cutmix 1.0, erasing 0.25)",
                  "He et al. 2022, MAE; Bao et al. 2022, BEiT (fine-tuning: the same policies)",
                  "Liu et al. 2022, ConvNeXt (22k->1k fine-tuning: RandAugment 9/0.5, "
                  "erasing 0.25, no mixup or cutmix)",
                  "bench/tuning_quality.py (rings-deit: the short-run measurement)")
    example = ({"model": {"name": "deit_small_patch16_224"}}, {"augmentation": "strong"})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        asked = ctx.request.training.augmentation
        model = ctx.model
        if asked is not None:
            yield Decision("augmentation", asked, f"you asked for {asked} augmentation")
        elif model.kind in TRANSFORMER_KINDS and not ctx.request.training.pretrained:
            if ctx.total_steps < SHORT_BUDGET_STEPS:
                yield Decision("augmentation", "standard", f"{ctx.total_steps} optimizer steps "
                               f"({ctx.epochs} epochs) is too short a run for strong policies "
                               "to pay: the network is still underfitting when it ends, where "
                               "fewer augmentations help (the transformer recipes mix strongly "
                               "over hundreds of epochs); random crop and flip only")
            else:
                yield Decision("augmentation", "strong", "transformer-style models have weak "
                               "built-in priors and overfit ImageNet without strong "
                               "augmentation")
        elif (model.params_millions >= 20 and ctx.epochs >= 200
              and ctx.request.training.goal == "accuracy" and ctx.num_images >= SMALL_DATA_IMAGES):
            yield Decision("augmentation", "strong", f"a {model.params_millions:g}M-parameter "
                           f"model trained {ctx.epochs} epochs for accuracy has the capacity "
                           f"and time to profit from strong augmentation ({AUGMENTATION_TABLE})")
        elif model.kind == "nas_convnet" and ctx.epochs >= 200:
            yield Decision("augmentation", "strong", "the EfficientNet recipes pair their long "
                           "schedules with AutoAugment")
        elif (ctx.pretrained and model.kind in TRANSFORMER_KINDS
              and ctx.optimizer in ADAM_FAMILY and ctx.num_images >= LARGE_TARGET_IMAGES):
            yield Decision("augmentation", "strong", f"fine-tuning onto {ctx.num_images:,} "
                           "images, an ImageNet-scale target: the AdamW fine-tuning recipes "
                           "(MAE, BEiT, DeiT at 384; ConvNeXt and Swin from 22k) keep "
                           "RandAugment and random erasing, as when training from scratch")
        else:
            yield Decision("augmentation", "standard", "random crop and flip only: stronger "
                           "policies make this network underfit or need a longer schedule "
                           "than this one to pay")


@register
class CropByModelAndImageSize(Rule):
    id = "crop.small_model"
    sets = ("crop_scale", "crop_ratio")
    stage = BASE
    summary = (
        "The standard random-resized crop samples 8%-100% of the image with aspect ratio 3/4-4/3. "
        "Small networks underfit with it: MobileNetV2_x0_25 gains with a [0.2, 1] scale "
        "(53.18% vs 52.35%). Tiny images lose their object in an 8% crop, so they crop mildly."
    )
    sources = (src.SMALL_MODEL_CROP,)
    example = ({"model": {"name": "MobileNetV2_x0_25"}}, {"crop_scale": [0.2, 1.0]})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        size = ctx.model.params_millions
        image = ctx.request.dataset.image_size
        if ctx.augmentation == "none":
            yield Decision("crop_scale", [1.0, 1.0], "no augmentation: the whole image")
            yield Decision("crop_ratio", [1.0, 1.0], "no augmentation: no stretching")
            return
        reasons, scale, ratio = [], [0.08, 1.0], [0.75, 1.3333]
        if size < SMALL_CROP_MODEL_M:
            scale, ratio = [0.2, 1.0], [0.8, 1.25]
            reasons.append(f"{size:g}M parameters is a small network that underfits with 8% "
                           "crops: keep at least 20% of the image and stretch less")
        if image <= SMALL_IMAGE:
            scale = [max(scale[0], 0.35), 1.0]
            ratio = [0.8, 1.25]
            reasons.append(f"{image}px images keep too little of the object in small crops: at "
                           "least 35% of the image")
        if not reasons:
            reasons.append("the standard ImageNet crop: 8%-100% of the area, ratio 3/4-4/3")
        yield Decision("crop_scale", scale, "; ".join(reasons))
        yield Decision("crop_ratio", ratio, "; ".join(reasons))


@register
class HorizontalFlip(Rule):
    id = "aug.flip"
    sets = ("horizontal_flip",)
    stage = BASE
    summary = "Random horizontal flips are part of the standard augmentation, unless mirroring " \
              "changes what an image means (digits, text)."
    sources = (src.AUGMENTATION,)
    example = ({"model": {"name": "resnet20", "params_millions": 0.27},
                "dataset": {"num_train_images": 1437, "num_classes": 10, "image_size": 32,
                            "horizontal_flip_ok": False}},
               {"horizontal_flip": False})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        if ctx.augmentation == "none":
            yield Decision("horizontal_flip", False, "no augmentation")
        elif not ctx.request.dataset.horizontal_flip_ok:
            yield Decision("horizontal_flip", False, "your data set says a mirrored image "
                           "changes its label, so no flip")
        else:
            yield Decision("horizontal_flip", True, "a mirrored image keeps its label: flip "
                           "half the images")


@register
class MixupAndCutmix(Rule):
    id = "aug.mixup_cutmix"
    sets = ("mixup_alpha", "cutmix_alpha")
    stage = BASE
    summary = (
        "Mixup blends two images and their labels; CutMix pastes a patch of one into another, "
        "label mass by area. CutMix was the most effective single method for ResNet50 "
        "(78.39% vs 77.31%), mixup close behind (78.28%). CNN recipes use mixup 0.2 with cutmix "
        "1.0; transformer recipes mixup 0.8 with cutmix 1.0; one of the two per batch. BiT "
        "fine-tunes with mixup 0.1 above about 20k images (interpolated from 10k to 40k)."
    )
    sources = (src.AUGMENTATION, src.BAG_MIXUP, src.SURVEY_MIXUP)
    references = ("Zhang et al. 2018, mixup", "Yun et al. 2019, CutMix",
                  "Touvron et al. 2021, DeiT (mixup 0.8, cutmix 1.0)",
                  "Kolesnikov et al. 2020, BiT (HyperRule: mixup 0.1 above 20k images)")
    example = ({"model": {"name": "resnet50"}, "training": {"augmentation": "strong"}},
               {"mixup_alpha": 0.2, "cutmix_alpha": 1.0})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        bit_mixup = 0.1 * log_position(ctx.num_images, 10_000, 40_000)
        if (ctx.pretrained and ctx.augmentation == "standard" and bit_mixup > 0
                and ctx.optimizer in SGD_FAMILY):
            alpha = round(bit_mixup, 3)
            yield Decision("mixup_alpha", alpha, f"BiT's HyperRule fine-tunes with mixup 0.1 "
                           f"above 20k images and none below; {ctx.num_images:,} images, "
                           f"log-interpolated between 10k and 40k: {alpha:g}")
            yield Decision("cutmix_alpha", 0.0, "BiT fine-tunes without cutmix")
        elif ctx.augmentation != "strong":
            yield Decision("mixup_alpha", 0.0, f"off with {ctx.augmentation} augmentation")
            yield Decision("cutmix_alpha", 0.0, f"off with {ctx.augmentation} augmentation")
        elif (ctx.model.kind in TRANSFORMER_KINDS and ctx.pretrained
              and ctx.request.training.pretraining == "supervised-21k"):
            why = ("ConvNeXt and Swin fine-tune their ImageNet-21k weights without mixing "
                   "(RandAugment and random erasing only)")
            yield Decision("mixup_alpha", 0.0, why)
            yield Decision("cutmix_alpha", 0.0, why)
        elif ctx.model.kind in TRANSFORMER_KINDS:
            yield Decision("mixup_alpha", 0.8, "transformer recipes mix strongly: alpha 0.8")
            yield Decision("cutmix_alpha", 1.0, "cutmix alpha 1.0 (a uniform patch area), "
                           "alternating with mixup batch by batch")
        elif ctx.model.kind == "nas_convnet":
            yield Decision("mixup_alpha", 0.0, "the EfficientNet-style recipes regularise with "
                           "AutoAugment and dropout rather than mixing")
            yield Decision("cutmix_alpha", 0.0, "as for mixup")
        else:
            yield Decision("mixup_alpha", 0.2, "mixup with alpha 0.2: mild blends, as CNN "
                           "recipes use (78.28% vs 77.31% for ResNet50)")
            yield Decision("cutmix_alpha", 1.0, "cutmix alpha 1.0, the strongest single method "
                           "for ResNet50 (78.39%), alternating with mixup batch by batch")


@register
class AutoAugmentPolicy(Rule):
    id = "aug.policy"
    sets = ("auto_augment",)
    stage = BASE
    summary = (
        "A learned or random augmentation policy: AutoAugment added 0.64 points to ResNet50, "
        "RandAugment 0.39; transformer recipes use RandAugment (m9, std 0.5)."
    )
    sources = (src.AUGMENTATION, src.SURVEY_AUTOAUGMENT)
    references = ("Cubuk et al. 2019, AutoAugment", "Cubuk et al. 2020, RandAugment")
    example = ({"model": {"name": "swin_t"}}, {"auto_augment": "randaugment"})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        if ctx.augmentation != "strong":
            yield Decision("auto_augment", "none", f"off with {ctx.augmentation} augmentation")
        elif ctx.model.kind in TRANSFORMER_KINDS:
            yield Decision("auto_augment", "randaugment", "RandAugment (magnitude 9, std 0.5), "
                           "as the transformer recipes use")
        else:
            yield Decision("auto_augment", "autoaugment", "the ImageNet AutoAugment policy "
                           "(+0.64 points on ResNet50)")


@register
class RandomErasing(Rule):
    id = "aug.random_erasing"
    sets = ("random_erasing",)
    stage = BASE
    summary = (
        "Random erasing blanks a random rectangle, teaching the model to use the whole object; "
        "+0.6 points on ResNet50. Probability 0.25 in transformer recipes, 0.1-0.2 for CNNs."
    )
    sources = (src.AUGMENTATION, src.SURVEY_RANDOM_ERASING)
    references = ("Zhong et al. 2020, Random Erasing",)
    example = ({"model": {"name": "deit_base_patch16_224"}}, {"random_erasing": 0.25})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        if ctx.augmentation != "strong":
            yield Decision("random_erasing", 0.0, f"off with {ctx.augmentation} augmentation")
        elif ctx.model.kind in TRANSFORMER_KINDS:
            yield Decision("random_erasing", 0.25, "probability 0.25, as DeiT and Swin use")
        elif ctx.model.kind == "nas_convnet":
            yield Decision("random_erasing", 0.2, "probability 0.2, as the EfficientNet recipes "
                           "in timm use")
        else:
            yield Decision("random_erasing", 0.1, "probability 0.1 beside mixup and cutmix, "
                           "so the image keeps enough signal")
