"""Which optimizer, and its momentum: by goal, by the model's recipe lineage, by batch size."""

from __future__ import annotations

from collections.abc import Iterable

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import CHOOSE, SHAPE, Context, Decision, Rule
from advisor.rules._data_size import LARGE_TARGET_IMAGES, SMALL_DATA_IMAGES
from advisor.rules._registry import register
from advisor.rules._scale import VERY_LARGE_BATCH

KIND_OPTIMIZER = {
    "convnet": "sgd",
    "convnet_no_bn": "sgd",
    "mobile_convnet": "sgd",
    "nas_convnet": "rmsprop",
    "modern_convnet": "adamw",
    "transformer": "adamw",
    "hybrid": "adamw",
}

#: Families whose widely used recipes left their kind's optimizer.
FAMILY_OPTIMIZER = {
    "efficientnet_v2": ("sgd", "torchvision and PaddleClas retrained EfficientNetV2 with SGD and "
                        "momentum (the paper used RMSProp); SGD is the better-trodden path"),
}

KIND_LINEAGE = {
    "convnet": "classic batch-norm CNNs are trained with SGD and momentum in their published "
    "recipes (ResNet, PaddleClas, torchvision)",
    "convnet_no_bn": "AlexNet and VGG were trained with SGD and momentum",
    "mobile_convnet": "MobileNet V1/V2, ShuffleNetV2, GhostNet and PP-LCNet recipes use SGD with "
    "momentum",
    "nas_convnet": "EfficientNet, MobileNetV3 and MnasNet come from the TensorFlow NAS lineage, "
    "trained with RMSProp (decay 0.9, momentum 0.9, epsilon 1e-3)",
    "modern_convnet": "ConvNeXt adopted the transformer recipe: AdamW with decoupled weight decay",
    "transformer": "vision transformers (ViT, DeiT, Swin, PVT, MaxViT) train with AdamW; SGD "
    "is unstable for them",
    "hybrid": "MobileViT-style hybrids follow the transformer recipe: AdamW",
}

RECIPE_REFERENCES = (
    "Goyal et al. 2017, Accurate, Large Minibatch SGD (SGD momentum 0.9)",
    "Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (AdamW)",
    "Touvron et al. 2021, DeiT (AdamW for vision transformers)",
    "Tan & Le 2019, EfficientNet (RMSProp decay 0.9, momentum 0.9)",
    "Kornblith et al. 2019, Do Better ImageNet Models Transfer Better? (fine-tuning: SGD, "
    "Nesterov momentum 0.9)",
    "You et al. 2017, LARS; You et al. 2020, LAMB (layer-wise trust ratio for very large batches)",
)


@register
class UserOptimizer(Rule):
    id = "optimizer.user_choice"
    sets = ("optimizer",)
    stage = CHOOSE
    summary = "An optimizer named in the request is a constraint: every other value fits it."
    sources = (src.OPTIMIZERS,)
    example = (
        {"model": {"name": "resnet50"}, "training": {"optimizer": "momentum"}},
        {"optimizer": "sgd"},
    )

    def applies(self, ctx: Context) -> bool:
        return ctx.request.training.optimizer is not None

    def decide(self, ctx: Context) -> Iterable[Decision]:
        chosen = ctx.request.training.optimizer
        yield Decision("optimizer", chosen, f"you asked for {chosen}; the learning rate, weight "
                       "decay and schedule below are set for it")


@register
class OptimizerByGoalAndModel(Rule):
    id = "optimizer.by_goal_and_model"
    sets = ("optimizer",)
    stage = CHOOSE
    summary = (
        "SGD with momentum reaches the best final accuracy when its learning rate is right and "
        "training is long enough; adaptive optimizers converge faster. Architectures whose "
        "recipes were tuned for another optimizer keep it; very large batches need layer-wise "
        "trust ratios (LARS for CNNs, LAMB for transformers). The RMSProp lineage fine-tunes "
        "on new data with SGD."
    )
    sources = (src.OPTIMIZERS, src.ZH_OPTIMIZERS, src.BAG_LARGE_BATCH)
    references = RECIPE_REFERENCES
    example = ({"model": {"name": "vit_b_16"}, "training": {"batch_size": 1024}},
               {"optimizer": "adamw"})

    def applies(self, ctx: Context) -> bool:
        return ctx.request.training.optimizer is None

    def decide(self, ctx: Context) -> Iterable[Decision]:
        kind = ctx.model.kind
        if ctx.batch_size > VERY_LARGE_BATCH:
            chosen = "lamb" if kind in TRANSFORMER_KINDS else "lars"
            yield Decision("optimizer", chosen, f"batch {ctx.batch_size} is above "
                           f"{VERY_LARGE_BATCH}, where one global learning rate no longer suits "
                           f"every layer; {chosen.upper()} scales each layer's step by its "
                           "weight-to-gradient ratio")
            return
        if ctx.request.training.goal == "fast_convergence" and KIND_OPTIMIZER[kind] == "sgd":
            yield Decision("optimizer", "adamw", "your goal is fast convergence: adaptive "
                           "optimizers converge faster than SGD, at a small cost in final "
                           "accuracy")
            return
        chosen = KIND_OPTIMIZER[kind]
        lineage = KIND_LINEAGE[kind]
        if ctx.model.family in FAMILY_OPTIMIZER:
            chosen, lineage = FAMILY_OPTIMIZER[ctx.model.family]
        if (ctx.request.training.pretraining == "supervised-21k"
                and ctx.model.family == "vit"):
            chosen, lineage = "sgd", ("ViTs pretrained on ImageNet-21k are fine-tuned with SGD "
                                      "and momentum in their own lineage (ViT, AugReg, VTAB-1k: "
                                      "batch 512, no weight decay)")
        elif (not ctx.request.training.pretrained and chosen == "rmsprop"
              and ctx.num_images < SMALL_DATA_IMAGES):
            chosen, lineage = "sgd", (f"{ctx.num_images:,} images from scratch: small-data "
                                      "recipes train every CNN with SGD and momentum "
                                      "(pytorch-cifar's EfficientNet and MobileNets)")
        elif (ctx.request.training.pretrained and chosen == "rmsprop"
              and ctx.num_images < LARGE_TARGET_IMAGES):
            chosen, lineage = "sgd", ("RMSProp is the NAS lineage's optimizer from scratch; "
                                      "its pretrained weights are fine-tuned on new data with "
                                      "SGD and momentum, as EfficientNet's transfer results "
                                      "were (Kornblith et al. 2019's protocol) and as BiT "
                                      "fine-tunes")
        goal = ("best final accuracy" if ctx.request.training.goal == "accuracy"
                else "fast convergence")
        yield Decision("optimizer", chosen, f"{lineage}; it suits your goal of {goal}")


@register
class MomentumByOptimizer(Rule):
    id = "momentum.by_optimizer"
    sets = ("momentum",)
    stage = SHAPE
    summary = "Momentum 0.9 (beta1 0.9 for AdamW and LAMB) is the value nearly every recipe uses."
    sources = (src.OPTIMIZERS, src.BAG_LINEAR_SCALING)
    references = RECIPE_REFERENCES
    example = ({"model": {"name": "resnet50"}}, {"momentum": 0.9})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        meaning = {
            "sgd": "SGD momentum",
            "lars": "LARS momentum",
            "rmsprop": "RMSProp momentum (with decay 0.9 and epsilon 1e-3 as in the TF recipes)",
            "adamw": "AdamW beta1 (beta2 0.999)",
            "lamb": "LAMB beta1 (beta2 0.999)",
        }[ctx.optimizer]
        yield Decision("momentum", 0.9, f"{meaning} of 0.9, the value the published recipes "
                       "for this optimizer use")
