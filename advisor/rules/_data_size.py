"""The data-set sizes (training images) at which the rules move from one lineage to another.

Each threshold is defined here once and imported by the rules that read it. Sizes that happen
to be equal but mean different things (where CIFAR-style recipes stop, where a fine-tuning
target becomes ImageNet-scale) keep their own names. Anchors of a single published formula (BiT's
step table, the guidance's fine-tuning share of the rate) stay beside the rule that uses them.
"""

from __future__ import annotations

from advisor.rules._scale import log_position

#: ImageNet-1k's training set, the size the ImageNet recipes were published for.
IMAGENET_IMAGES = 1_281_167
#: Below this many images the small-data (CIFAR-style) recipes from scratch hold in full: SGD
#: for every CNN, their learning rate and weight decay; no strong augmentation by size alone.
SMALL_DATA_IMAGES = 100_000
#: From this many images the ImageNet lineage holds in full; between SMALL_DATA_IMAGES and
#: here the learning rate and weight decay move from one lineage to the other log-linearly.
LARGE_DATA_IMAGES = 640_000
#: Below this many images CNN recipes from scratch (CIFAR-100, SVHN, Tiny-ImageNet) train
#: without label smoothing: a cut at one size, not a blend like the rate's and the decay's.
SMALL_DATA_SMOOTHING = 300_000
#: A fine-tuning target this large is ImageNet-scale (22k->1k, MAE/BEiT on 1k): it is smoothed
#: and warmed up like one even from ImageNet-21k weights.
LARGE_TARGET_IMAGES = 300_000


def small_data_weight(num_images: int) -> float:
    """0 below 100k images (small-data lineage), 1 from 640k (ImageNet lineage), log-linear."""
    return log_position(num_images, SMALL_DATA_IMAGES, LARGE_DATA_IMAGES)
