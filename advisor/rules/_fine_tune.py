"""The SGD fine-tuning lineage most practitioners follow: a supervised ImageNet-1k CNN (a
torchvision or timm ResNet, MobileNet, Inception, VGG...) fine-tuned on new data with SGD.

Defined here once and read by the rate, decay and warmup rules. Its numbers come from the
guidance's own fine-tuning section and from PaddleClas's published fine-tuning configs (the
writing set in docs/research/sgd_fine_tuning_configs.md); BiT's own models (family "bit",
GroupNorm and weight standardisation) keep the HyperRule that was fitted to them.
"""

from __future__ import annotations

from advisor.catalog import TRANSFORMER_KINDS
from advisor.rules._base import Context
from advisor.schemas import SGD_FAMILY

#: The guidance's anchors: 0.001 per 256 below 1,000 images, "0.01 or greater" above 100,000.
SMALL_TARGET, LARGE_TARGET = 1_000, 100_000
#: The batch the guidance states its fine-tuning rates at.
REFERENCE_BATCH = 256


def follows_sgd_lineage(ctx: Context) -> bool:
    """True for SGD fine-tuning of supervised ImageNet-1k CNN weights other than BiT's."""
    return (ctx.pretrained and ctx.pretraining == "supervised-1k"
            and ctx.optimizer in SGD_FAMILY and ctx.model.kind not in TRANSFORMER_KINDS
            and ctx.model.family != "bit")


def batch_factor(batch: int) -> float:
    """How the lineage's rate follows the batch: unscaled below 256 (PaddleClas's quick start
    fine-tunes at 0.004-0.0125 with batch 20-32, the values it uses at 256: the rate is bounded
    by how far the pretrained weights may move, not by gradient noise), linear above (the
    guidance's linear scaling; PaddleClas's PULC configs at 2048 take 5-8x their rate at
    256)."""
    return max(1.0, batch / REFERENCE_BATCH)
