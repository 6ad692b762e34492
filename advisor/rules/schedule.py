"""How long to train, how the learning rate decays, and how it warms up."""

from __future__ import annotations

import math
from collections.abc import Iterable

from advisor import sources as src
from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import BASE, CHOOSE, Context, Decision, Rule
from advisor.rules._data_size import LARGE_TARGET_IMAGES
from advisor.rules._fine_tune import follows_sgd_lineage
from advisor.rules._format import num
from advisor.rules._registry import register
from advisor.rules._scale import log_interp
from advisor.schedules import default_params, exponential_gamma_per_epoch
from advisor.schemas import ADAM_FAMILY, SGD_FAMILY

#: Epochs below which the guidance's cosine decay leaves too few epochs at a small rate.
COSINE_MIN_EPOCHS = 150
#: Below this, piecewise segments are too short to train at each rate (a tuning trial of a few
#: epochs would spend most of its steps at 1/10 or 1/100 of the rate); decay smoothly instead.
PIECEWISE_MIN_EPOCHS = 30
#: Total batch size from which the guidance recommends warmup for SGD-style optimizers.
WARMUP_BATCH = 1024
WARMUP_EPOCHS = 5

# From-scratch epochs by recipe kind: (best accuracy, fast convergence).
SCRATCH_EPOCHS = {
    "convnet": (200, 90),
    "convnet_no_bn": (90, 90),
    "mobile_convnet": (240, 120),
    "nas_convnet": (350, 120),
    "modern_convnet": (300, 100),
    "transformer": (300, 100),
    "hybrid": (300, 100),
}

#: Fewer optimizer steps than this is a budget of tens of steps: too short to train.
MIN_STEPS = 100
#: What to aim for when the budget is too short.
TARGET_STEPS = 500


def step_budget_warning(ctx: Context, epochs: int) -> None:
    """Warn when images / batch x epochs is tens of steps, and say what to change."""
    per_epoch = ctx.steps_per_epoch
    steps = per_epoch * epochs
    if steps >= MIN_STEPS:
        return
    more_epochs = math.ceil(TARGET_STEPS / per_epoch)
    batch = 2 ** max(0, math.floor(math.log2(max(1, ctx.num_images * epochs / TARGET_STEPS))))
    ctx.warnings.append(
        f"{epochs} epochs of {ctx.num_images:,} images at batch {ctx.batch_size} is only "
        f"{steps} optimizer steps ({per_epoch} per epoch): too few for the rate, warmup and "
        f"decay to work, and the best rate becomes erratic. For about {TARGET_STEPS} steps, "
        f"train {more_epochs} epochs at this batch, or use batch {min(batch, ctx.batch_size)} "
        f"for {epochs} epochs")


#: BiT's HyperRule schedule length in steps at batch 512 by data-set size (500 below 20k
#: images, 10k below 500k, 20k above), made smooth: log-log interpolation between the anchors.
FINE_TUNE_STEPS = ((10_000, 500.0), (40_000, 10_000.0), (300_000, 10_000.0),
                   (1_000_000, 20_000.0))
FINE_TUNE_BATCH = 512


def fine_tune_epochs(num_images: int) -> tuple[int, float]:
    """Epochs that show the model as many images as BiT's schedule does, and its steps."""
    steps = log_interp(num_images, FINE_TUNE_STEPS)
    epochs = max(1, min(1000, round(steps * FINE_TUNE_BATCH / num_images)))
    return epochs, steps


@register
class UserEpochs(Rule):
    id = "epochs.user_choice"
    sets = ("epochs",)
    stage = CHOOSE
    summary = "Epochs named in the request are kept; schedule and warmup are fitted to them."
    sources = (src.LR_DECAY,)
    example = ({"model": {"name": "resnet50"}, "training": {"epochs": 90}}, {"epochs": 90})

    def applies(self, ctx: Context) -> bool:
        return ctx.request.training.epochs is not None

    def decide(self, ctx: Context) -> Iterable[Decision]:
        epochs = int(ctx.request.training.epochs or 1)
        step_budget_warning(ctx, epochs)
        yield Decision("epochs", epochs, f"you asked for {epochs} epochs "
                       f"({ctx.steps_per_epoch * epochs:,} steps of batch {ctx.batch_size})")


@register
class EpochsByRecipe(Rule):
    id = "epochs.by_recipe"
    sets = ("epochs",)
    stage = CHOOSE
    summary = (
        "Without a budget, train as long as the model's published recipes do: cosine decay "
        "pays off in long runs such as 200 epochs, transformers need about 300, fine-tuning "
        "from pretrained weights needs far fewer."
    )
    sources = (src.LR_DECAY, src.PRETRAINED)
    references = ("Touvron et al. 2021, DeiT (300 epochs)",
                  "PaddleClas ResNet50_vd recipe (200 epochs, cosine)")
    example = ({"model": {"name": "resnet50"}}, {"epochs": 200})

    def applies(self, ctx: Context) -> bool:
        return ctx.request.training.epochs is None

    def decide(self, ctx: Context) -> Iterable[Decision]:
        fast = ctx.request.training.goal == "fast_convergence"
        if ctx.request.training.pretrained:
            epochs, steps = fine_tune_epochs(ctx.num_images)
            why = (f"BiT's fine-tuning schedule for {ctx.num_images:,} images is about "
                   f"{steps:,.0f} steps of batch {FINE_TUNE_BATCH} (500 below 20k images, 10k "
                   f"below 500k, 20k above, interpolated): {epochs} epochs")
            asked = ctx.request.training.optimizer  # the optimizer is chosen in this stage too
            adaptive = (asked in ADAM_FAMILY or
                        (asked is None and ctx.model.kind in TRANSFORMER_KINDS))
            if ctx.pretraining == "self-supervised" and adaptive:
                epochs = max(epochs, 100)
                why += "; self-supervised weights (MAE, BEiT) fine-tune longer: at least 100"
            if fast:
                epochs = max(1, epochs // 2)
                why += f"; halved for fast convergence: {epochs}"
            step_budget_warning(ctx, epochs)
            yield Decision("epochs", epochs, why)
            return
        accurate_epochs, fast_epochs = SCRATCH_EPOCHS[ctx.model.kind]
        epochs = fast_epochs if fast else accurate_epochs
        step_budget_warning(ctx, epochs)
        goal = "fast convergence" if fast else "best accuracy"
        yield Decision("epochs", epochs, f"from scratch, {epochs} epochs is what recipes for "
                       f"this kind of model use when aiming at {goal}")


@register
class ScheduleByOptimizerAndEpochs(Rule):
    id = "schedule.by_optimizer_and_epochs"
    sets = ("lr_schedule", "lr_schedule_params")
    stage = BASE
    summary = (
        "Cosine decay keeps the rate high for longer and ends more accurate, but needs long "
        "training (about 200 epochs); shorter SGD runs do better with piecewise decay (divide by "
        "10 every 30 of 120 epochs), and runs under 30 epochs, too short for steps, decay by "
        "cosine. RMSProp's lineage decays exponentially (0.97 every 2.4 "
        "epochs); AdamW and LAMB use cosine."
    )
    sources = (src.LR_DECAY, src.BAG_COSINE, src.SURVEY_COSINE)
    references = ("Tan & Le 2019, EfficientNet (exponential decay 0.97 every 2.4 epochs)",
                  "Loshchilov & Hutter 2017, SGDR (cosine annealing)")
    example = ({"model": {"name": "resnet50"}, "training": {"epochs": 120}},
               {"lr_schedule": "piecewise", "lr_schedule_params": {"milestones": [30, 60, 90],
                                                                   "gamma": 0.1}})

    def decide(self, ctx: Context) -> Iterable[Decision]:
        epochs, optimizer = ctx.epochs, ctx.optimizer
        if optimizer in ADAM_FAMILY:
            yield Decision("lr_schedule", "cosine", f"{optimizer} recipes decay with a cosine "
                           "from the peak rate to about zero")
            yield Decision("lr_schedule_params", {}, "cosine needs no parameters")
        elif optimizer == "rmsprop" and epochs >= COSINE_MIN_EPOCHS:
            gamma = exponential_gamma_per_epoch(epochs)
            yield Decision("lr_schedule", "exponential", "the RMSProp recipes multiply the "
                           "rate by 0.97 every 2.4 epochs over their long schedules")
            yield Decision("lr_schedule_params", {"gamma_per_epoch": gamma},
                           f"0.97 every 2.4 epochs = {gamma} per epoch")
        elif epochs >= COSINE_MIN_EPOCHS or optimizer == "rmsprop":
            yield Decision("lr_schedule", "cosine", f"{epochs} epochs is long enough for cosine "
                           f"decay (it pays from about {COSINE_MIN_EPOCHS}-200 epochs), which "
                           "ends more accurate than piecewise decay and needs no milestones")
            yield Decision("lr_schedule_params", {}, "cosine needs no parameters")
        elif epochs < PIECEWISE_MIN_EPOCHS:
            yield Decision("lr_schedule", "cosine", f"{epochs} epochs is too short for piecewise "
                           "steps (each segment would last a few epochs and most steps would "
                           "run at 1/10 of the rate or less); cosine decays smoothly, per step")
            yield Decision("lr_schedule_params", {}, "cosine needs no parameters")
        else:
            params = default_params("piecewise", epochs)
            milestones = params["milestones"]
            yield Decision("lr_schedule", "piecewise", f"{epochs} epochs is short for cosine "
                           "decay, which spends too few epochs at a small rate; piecewise decay "
                           "drops the rate by 10x at fixed epochs")
            yield Decision("lr_schedule_params", params,
                           "divide by 10 at epochs " + ", ".join(map(str, milestones)) +
                           " (as 30/60/90 of 120)")


@register
class WarmupByBatchAndOptimizer(Rule):
    id = "warmup.by_batch_and_optimizer"
    sets = ("warmup_epochs", "warmup_start_lr")
    stage = BASE
    summary = (
        "Large batches (1024 and up) start with a linear warmup, 5 epochs from 0 to the initial "
        "rate (the guidance's MobileNetV3 setting); adaptive-optimizer recipes for transformers "
        "always warm up, longer in 300-epoch runs; LARS and LAMB always warm up. Warmup never "
        "takes more than a tenth of a short run."
    )
    sources = (src.WARMUP, src.BAG_WARMUP, src.SURVEY_WARMUP)
    references = ("Goyal et al. 2017 (gradual warmup over 5 epochs)",
                  "Liu et al. 2021, Swin (20 warmup epochs of 300)")
    example = ({"model": {"name": "resnet50"}, "training": {"batch_size": 1024}},
               {"warmup_epochs": 5, "warmup_start_lr": 0.0})

    def applies(self, ctx: Context) -> bool:
        return not ctx.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        epochs, batch, optimizer = ctx.epochs, ctx.batch_size, ctx.optimizer
        cap = max(1, epochs // 10)
        if ctx.model.family == "regnet" or optimizer == "rmsprop":
            wanted = WARMUP_EPOCHS
            why = ("the RegNet recipes always warm up for 5 epochs" if optimizer != "rmsprop"
                   else "RMSProp's running averages start empty, so its recipes (EfficientNet, "
                   "MobileNetV3) warm up for 5 epochs")
        elif optimizer in (*ADAM_FAMILY, "lars"):
            wanted = 20 if (epochs >= 300 and ctx.model.kind != "nas_convnet") else WARMUP_EPOCHS
            why = (f"{optimizer} recipes always warm up: the adaptive step is unreliable while "
                   "its statistics are still empty")
            if wanted == 20:
                why += "; 300-epoch transformer recipes use about 20 warmup epochs"
        elif batch >= WARMUP_BATCH:
            wanted = WARMUP_EPOCHS
            why = (f"batch {batch} is large: starting at the full rate destabilises the random "
                   f"initial weights, so raise it linearly over {WARMUP_EPOCHS} epochs")
        else:
            yield Decision("warmup_epochs", 0, f"batch {batch} is below {WARMUP_BATCH}, where "
                           "warmup stops paying; training starts at the initial rate")
            yield Decision("warmup_start_lr", 0.0, "no warmup")
            return
        warmup = min(wanted, cap)
        if warmup < wanted:
            why += f"; shortened to {warmup} so it stays within a tenth of {epochs} epochs"
        why += f" ({warmup * ctx.steps_per_epoch:,} steps)"
        yield Decision("warmup_epochs", warmup, why)
        yield Decision("warmup_start_lr", 0.0, f"warmup rises linearly from 0 to the initial "
                       f"rate over {num(warmup)} epochs, updated every step")


#: BiT warms up for 100 of its 500 steps on small data and 500 steps otherwise.
FINE_TUNE_WARMUP_STEPS = 500


@register
class WarmupForFineTuning(Rule):
    id = "warmup.fine_tune"
    sets = ("warmup_epochs", "warmup_start_lr")
    stage = BASE
    summary = (
        "SGD fine-tuning of ImageNet-1k CNNs warms up as the guidance says for training from "
        "scratch: 5 epochs from batch 1024, none below (PaddleClas's PULC configs). Otherwise "
        "warmup when fine-tuning is counted in steps: BiT and the ViT fine-tuning recipes "
        "(SGD) warm up for 500 steps, or a fifth of a short run; AdamW fine-tuning warms up "
        "for 5 epochs (MAE, DeiT, CCT, Swin 22k->1k), except small targets from ImageNet-21k "
        "weights, which start at the full, already small rate (Hugging Face examples); so "
        "does the torchvision tutorial's SGD."
    )
    sources = (src.WARMUP, src.PRETRAINED)
    references = ("Kolesnikov et al. 2020, BiT (HyperRule: 100 or 500 warmup steps)",
                  "Dosovitskiy et al. 2021, ViT (fine-tuning: 500 warmup steps)",
                  "He et al. 2022, MAE, Table 9 (5 warmup epochs)",
                  "Liu et al. 2021, Swin (22k->1k fine-tuning: 5 warmup epochs)")
    example = ({"model": {"name": "resnet50"},
                "dataset": {"num_train_images": 1000, "num_classes": 10},
                "training": {"batch_size": 512, "epochs": 256,
                             "pretraining": "supervised-21k"}},
               {"warmup_epochs": 51.2})

    def applies(self, ctx: Context) -> bool:
        return ctx.pretrained

    def decide(self, ctx: Context) -> Iterable[Decision]:
        optimizer, epochs, per_epoch = ctx.optimizer, ctx.epochs, ctx.steps_per_epoch
        total = ctx.total_steps
        if follows_sgd_lineage(ctx):
            if ctx.batch_size < WARMUP_BATCH:
                yield Decision("warmup_epochs", 0, f"SGD fine-tuning of an ImageNet-1k CNN "
                               f"with batch {ctx.batch_size}: the guidance warms up large "
                               f"batches only (from {WARMUP_BATCH}), and the rate starts small")
                yield Decision("warmup_start_lr", 0.0, "no warmup")
                return
            warmup = round(min(float(WARMUP_EPOCHS), epochs / 10), 2)
            why = (f"SGD fine-tuning with batch {ctx.batch_size} warms up as the guidance "
                   f"advises for large batches (PaddleClas's PULC configs: 5 epochs): "
                   f"{num(warmup)} epochs, at most a tenth of the run")
        elif optimizer in SGD_FAMILY and ctx.pretraining != "self-supervised":
            steps = min(FINE_TUNE_WARMUP_STEPS, total / 5)
            warmup = round(min(steps / per_epoch, epochs / 5), 2)
            why = (f"the BiT and ViT fine-tuning recipes warm up for {FINE_TUNE_WARMUP_STEPS} "
                   f"steps, or a fifth of a short run: {steps:,.0f} of {total:,} steps = "
                   f"{num(warmup)} epochs")
        elif optimizer in (*ADAM_FAMILY, "rmsprop") and (
                ctx.pretraining != "supervised-21k" or optimizer == "lamb"
                or ctx.num_images >= LARGE_TARGET_IMAGES):
            warmup = round(min(float(WARMUP_EPOCHS), epochs / 10), 2)
            why = (f"{optimizer} fine-tuning of {ctx.pretraining} weights on "
                   f"{ctx.num_images:,} images warms up as MAE and Swin do: {num(warmup)} epochs "
                   f"({warmup * per_epoch:,.0f} steps), at most a tenth of the run")
        else:
            yield Decision("warmup_epochs", 0, f"fine-tuning {ctx.num_images:,} images with "
                           f"{optimizer}: the rate is already small, so it starts at full "
                           "value as the torchvision and Hugging Face transfer examples do")
            yield Decision("warmup_start_lr", 0.0, "no warmup")
            return
        yield Decision("warmup_epochs", warmup, why)
        yield Decision("warmup_start_lr", 0.0, f"warmup rises linearly from 0 to the initial "
                       f"rate over {num(warmup)} epochs, updated every step")
