"""What is known about a data set without loading it, and what a data set may be called.

The trial runner registers a `DatasetProfile` with every data set (`worker.trainer.datasets`);
the registry lists it with who offers it (`worker.registry.DatasetInfo` extends it). No torch
here, so the API reads profiles without importing the trial runner.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

DATASET_NAME_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")


class DatasetProfile(BaseModel):
    """A data set's size and shape, and whether a mirror image keeps its label.

    >>> profile = DatasetProfile(name="leaves", num_train=800, num_val=200, num_classes=5,
    ...                          image_size=64, channels=3, horizontal_flip_ok=True)
    >>> profile.model_copy(update={"name": "leaves-small", "num_train": 100}).num_train
    100
    """

    model_config = ConfigDict(frozen=True)

    name: str
    num_train: int
    num_val: int
    num_classes: int
    image_size: int
    channels: int
    horizontal_flip_ok: bool
    description: str = ""


def invalid_name_reason(name: object) -> str:
    """Why `name` cannot name a data set."""
    return (f"{name!r} is not a valid data set name (lowercase letters, digits, '_' or '-', 1 "
            "to 64 characters)")


def check_dataset_name(name: object, field: str) -> str:
    """`name` when it is a valid data set name; else a ValueError that starts with `field`."""
    if not isinstance(name, str) or not DATASET_NAME_PATTERN.match(name):
        raise ValueError(f"{field}: {invalid_name_reason(name)}")
    return name
