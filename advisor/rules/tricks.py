"""The batch-size rule, and the tricks that are advice rather than a single number.

The advice: reduced precision, knowledge distillation, AdaBound, Cutout, RICAP, constant warmup
and a fresh classifier head when fine-tuning.
"""

from __future__ import annotations

from collections.abc import Iterable

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import BASE, AdviceRule, Context, Decision, Rule
from advisor.rules._registry import register, register_advice


@register
class BatchSize(Rule):
    id = "batch.user_choice"
    sets = ("batch_size",)
    stage = BASE
    summary = (
        "The batch size is yours (it is bound by memory); the learning rate follows it. Larger "
        "batches cut gradient noise but, at equal epochs, lose some accuracy unless the rate is "
        "scaled and warmed up."
    )
    sources = (src.BATCH_SIZE, src.BAG_LARGE_BATCH)
    example = ({"model": {"name": "resnet50"}, "training": {"batch_size": 512, "num_gpus": 8}},
               {"batch_size": 512})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        batch, gpus = ctx.batch_size, ctx.request.training.num_gpus
        per_device = f" ({batch // gpus} per GPU on {gpus})" if gpus > 1 else ""
        yield Decision("batch_size", batch, f"your total batch of {batch}{per_device}; the "
                       "learning rate is scaled to it")


@register_advice
class ReducedPrecision(AdviceRule):
    id = "advice.reduced_precision"
    summary = "Train in mixed precision on GPUs; keep the loss and master weights in fp32."
    sources = (src.BAG_LOW_PRECISION,)

    def advise(self, ctx: Context) -> str | None:
        if ctx.request.training.num_gpus < 1:
            return None
        return ("Use mixed precision (bf16 autocast, or fp16 with loss scaling): several times "
                "the throughput on tensor-core GPUs, allowing the larger batch this advice "
                "scales for. Reduced precision has a narrow range, so keep master weights and "
                "the loss in fp32.")


@register_advice
class KnowledgeDistillation(AdviceRule):
    id = "advice.knowledge_distillation"
    summary = "Small models gain from imitating a larger, more accurate teacher."
    sources = (src.BAG_DISTILLATION, src.SURVEY_DISTILLATION)
    references = ("Hinton et al. 2015, Distilling the Knowledge in a Neural Network",)

    def advise(self, ctx: Context) -> str | None:
        if ctx.model.params_millions >= 15 or ctx.request.training.goal != "accuracy":
            return None
        return (f"At {ctx.model.params_millions:g}M parameters, distilling from a larger "
                "pretrained teacher of the same task (a ResNet152 taught ResNet50 in the Bag of "
                "Tricks paper; temperature about 3) adds accuracy at no inference cost.")


@register_advice
class AdaBound(AdviceRule):
    id = "advice.adabound"
    summary = "AdaBound starts like Adam and ends like SGD by bounding each step."
    sources = (src.SURVEY_ADABOUND, src.OPTIMIZERS)
    references = ("Luo et al. 2019, AdaBound",)

    def advise(self, ctx: Context) -> str | None:
        if not (ctx.optimizer == "adamw" and ctx.model.kind not in TRANSFORMER_KINDS):
            return None
        return ("You trade SGD's final accuracy for Adam's speed here. AdaBound bounds the "
                "adaptive step so it converges towards SGD late in training: worth a trial "
                "when you want both.")


@register_advice
class Cutout(AdviceRule):
    id = "advice.cutout"
    summary = "Cutout masks a square of each image: +0.7 points on ResNet50, cheap to add."
    sources = (src.AUGMENTATION, src.SURVEY_CUTOUT)
    references = ("DeVries & Taylor 2017, Cutout",)

    def advise(self, ctx: Context) -> str | None:
        if ctx.augmentation != "standard" or ctx.model.params_millions < 10:
            return None
        return ("If the model overfits with the standard crop and flip, Cutout (one masked "
                "square per image) is the mildest strong augmentation: ResNet50 78.01% vs "
                "77.31%.")


@register_advice
class Ricap(AdviceRule):
    id = "advice.ricap"
    summary = "RICAP patches four crops into one image with area-weighted labels."
    sources = (src.SURVEY_RICAP,)
    references = ("Takahashi et al. 2018, RICAP",)

    def advise(self, ctx: Context) -> str | None:
        if ctx.augmentation != "strong" or ctx.model.params_millions < 20:
            return None
        return ("RICAP (random image cropping and patching: four crops into one image, labels "
                "mixed by area) is an alternative to cutmix for large models in long runs; use "
                "one of the two, not both.")


@register_advice
class ConstantWarmup(AdviceRule):
    id = "advice.constant_warmup"
    summary = "Very deep nets on small images may need a short constant low-rate start."
    sources = (src.SURVEY_WARMUP,)
    references = ("He et al. 2016, Deep Residual Learning (ResNet-110 on CIFAR-10)",)

    def advise(self, ctx: Context) -> str | None:
        if ctx.request.dataset.image_size > 64 or ctx.values.get("warmup_epochs", 0) > 0:
            return None
        return ("If the loss does not start falling, warm up: ResNet-110 on CIFAR-10 trained "
                "at 0.01 until training error fell below 80% (about 400 iterations) before "
                "switching to 0.1; a gradual linear warmup avoids the jump.")


@register_advice
class PretrainedHead(AdviceRule):
    id = "advice.pretrained_head"
    summary = "When fine-tuning, load the backbone and start the classifier afresh."
    sources = (src.PRETRAINED,)

    def advise(self, ctx: Context) -> str | None:
        if not ctx.request.training.pretrained:
            return None
        classes = ctx.request.dataset.num_classes
        return (f"Load the ImageNet weights but not the final fully connected layer: it maps to "
                f"1,000 classes and yours has {classes}; initialise it afresh.")


@register_advice
class WatchTrainVersusValidation(AdviceRule):
    id = "advice.train_vs_val"
    summary = "Compare train and validation accuracy each epoch to steer regularisation."
    sources = (src.TRAIN_VS_TEST,)

    def advise(self, ctx: Context) -> str | None:
        return ("Log train and validation accuracy every epoch: `hpadvisor diagnose` turns the "
                "two curves into concrete changes (train far above validation: regularise more; "
                "train below validation: regularise less).")


@register_advice
class LayerwiseRateDecay(AdviceRule):
    id = "advice.layer_decay"
    summary = ("Fine-tuning a ViT from self-supervised or 21k weights: decay the rate layer by "
               "layer from the head down.")
    sources = (src.PRETRAINED,)
    references = ("Bao et al. 2022, BEiT (layer decay 0.65)",
                  "He et al. 2022, MAE, Table 9 (layer decay 0.65 for ViT-B, 0.75 for ViT-L)",
                  "Liu et al. 2022, ConvNeXt, Table A (22k->1k: layer decay 0.7-0.8)")

    def advise(self, ctx: Context) -> str | None:
        if not ctx.pretrained or ctx.model.kind not in ("transformer", "modern_convnet"):
            return None
        decay = 0.75 if ctx.model.params_millions >= 200 else 0.65
        if ctx.pretraining == "supervised-21k":
            decay = 0.8 if ctx.model.params_millions >= 150 else 0.7
        elif ctx.pretraining != "self-supervised":
            return None
        return (f"Fine-tune with layer-wise rate decay {decay}: block k of L gets the rate x "
                f"{decay}^(L - k), so the layers nearest the input, which transfer best, move "
                "least (BEiT, MAE and ConvNeXt fine-tuning recipes). The advised rate is the "
                "rate of the head.")
