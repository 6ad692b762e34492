"""Where the advice comes from: the guidance documents and the sections rules cite.

Each `Section` carries an `anchor`, a phrase that occurs verbatim in the document, so a test can
prove every citation points at text that exists. Rules cite these constants, never free strings.
Published training recipes that the guidance does not cover (AdamW for transformers, RMSProp for
EfficientNet, ...) are cited as `references`: plain strings naming the paper or recipe lineage.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from advisor.schemas import Source

PADDLE = "paddleclas-training-tricks.en.md"
PADDLE_ZH = "paddleclas-training-tricks.zh.md"
BAG = "bag-of-tricks-notes.md"
SURVEY = "training-tricks-survey.zh.md"

DOCUMENTS = (PADDLE, PADDLE_ZH, BAG, SURVEY)


@dataclass(frozen=True)
class Section:
    document: str
    section: str
    anchor: str

    def source(self) -> Source:
        return _source(self.document, self.section)


@functools.cache
def _source(document: str, section: str) -> Source:
    """Sources are immutable values cited thousands of times: build each once."""
    return Source(document=document, section=section)


def _paddle(section: str) -> Section:
    return Section(PADDLE, section, f"## {section}" if section[0].isdigit() else section)


OPTIMIZERS = _paddle("1. Choice of Optimizers")
LEARNING_RATE = _paddle("2. Choice of Learning Rate and Learning Rate Declining Strategy")
LR_DECAY = Section(PADDLE, "2.2 Learning Rate Decline Strategy", "### 2.2 Learning Rate Decline")
WARMUP = Section(PADDLE, "2.3 Warmup Strategy", "### 2.3 Warmup Strategy")
BATCH_SIZE = _paddle("3. Choice of Batch_size")
WEIGHT_DECAY = _paddle("4. Choice of Weight_decay")
LABEL_SMOOTHING = _paddle("5. Choice of Label_smoothing")
SMALL_MODEL_CROP = _paddle(
    "6. Change the Crop Area and Stretch Transformation Degree of the Images for Small Models"
)
AUGMENTATION = _paddle("7. Use Data Augmentation to Improve Accuracy")
TRAIN_VS_TEST = _paddle("8. Determine the Tuning Strategy by Train_acc and Test_acc")
PRETRAINED = _paddle(
    "9. Improve the Accuracy of Your Own Data Set with Existing Pre-trained Models"
)

ZH_OPTIMIZERS = Section(PADDLE_ZH, "1. 优化器的选择", "1. 优化器的选择")

BAG_LINEAR_SCALING = Section(BAG, "Linear scaling learning rate (p. 3)",
                             "Linear scaling learning rate")
BAG_WARMUP = Section(BAG, "Learning rate warmup (p. 3)", "Learning rate warmup")
BAG_NO_BIAS_DECAY = Section(BAG, "No bias decay (p. 3)", "Other parameters, including the biases")
BAG_LOW_PRECISION = Section(BAG, "Low-precision training (p. 3)", "reduced precision")
BAG_COSINE = Section(BAG, "Cosine learning rate decay (p. 5)", "cosine annealing strategy")
BAG_LABEL_SMOOTHING = Section(BAG, "Label smoothing (p. 6)", "label smoothing was first proposed")
BAG_DISTILLATION = Section(BAG, "Knowledge distillation (p. 6)", "knowledge distillation")
BAG_MIXUP = Section(BAG, "Mixup training (p. 7)", "augmentation method called mixup")
BAG_LARGE_BATCH = Section(BAG, "Large-batch training (p. 3)", "Using large batch size")

SURVEY_WARMUP = Section(SURVEY, "Warmup", "## Warmup")
SURVEY_LINEAR_SCALING = Section(SURVEY, "Linear scaling learning rate",
                                "## Linear scaling learning rate")
SURVEY_LABEL_SMOOTHING = Section(SURVEY, "Label-smoothing", "## Label-smoothing")
SURVEY_RICAP = Section(SURVEY, "Random image cropping and patching",
                       "- Random image cropping and patching")
SURVEY_DISTILLATION = Section(SURVEY, "Knowledge Distillation", "- Knowledge Distillation")
SURVEY_CUTOUT = Section(SURVEY, "Cutout", "- Cutout")
SURVEY_RANDOM_ERASING = Section(SURVEY, "Random erasing", "- Random erasing")
SURVEY_COSINE = Section(SURVEY, "Cosine learning rate decay", "- Cosine learning rate decay")
SURVEY_MIXUP = Section(SURVEY, "Mixup training", "- Mixup training")
SURVEY_ADABOUND = Section(SURVEY, "AdaBound", "- AdaBoud")
SURVEY_AUTOAUGMENT = Section(SURVEY, "AutoAugment", "- AutoAugment")

ALL_SECTIONS: tuple[Section, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Section)
)
