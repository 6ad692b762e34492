"""The data sets a worker config file lists (JSON or TOML), each read as one `UserDataset`.

The file holds a list of entries, either at the top level (JSON) or under ``datasets``::

    [[datasets]]
    name = "leaves"
    path = "/data/leaves"          # relative paths are relative to the config file
    format = "folder"              # "npz" (arrays x and y) or "folder" (one folder per class)
    horizontal_flip_ok = true
    image_size = 64                # optional: resize to image_size x image_size (default:
                                   # the first image's larger side, at most 224)
    val_fraction = 0.2             # optional, stratified split with seed 0

An entry that is not valid is a ValueError naming its field (``datasets[0].image_size: must be
an integer >= 4, got 0``). `worker.trainer.datasets.register_datasets_from_config` registers
what `read_dataset_config` returns.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from worker.dataset_profile import DATASET_NAME_PATTERN, DatasetProfile, invalid_name_reason
from worker.trainer.image_folder import folder_summary, load_folder
from worker.trainer.npz_file import npz_summary, read_npz
from worker.trainer.splits import (
    LoadedDataset,
    normalise_split,
    resize_images,
    split_sizes,
    stratified_split,
)

DEFAULT_VAL_FRACTION = 0.2

#: What a field must be, said the same way whatever the validation found wrong with the value.
_REQUIREMENTS: dict[str, Callable[[Any], str]] = {
    "name": invalid_name_reason,
    "path": lambda value: "a path to the data is required",
    "format": lambda value: f"must be 'npz' or 'folder', got {value!r}",
    "horizontal_flip_ok": lambda value: "must be true or false",
    "image_size": lambda value: f"must be an integer >= 4, got {value!r}",
    "val_fraction": lambda value: f"must be a number in (0, 1), got {value!r}",
}


class UserDataset(BaseModel):
    """One ``[[datasets]]`` entry: where the data is, how it is stored, how to split it.

    Validate with ``context={"base": folder}``: a relative `path` is relative to that folder
    (the config file's).
    """

    model_config = ConfigDict(frozen=True, strict=True, regex_engine="python-re")

    name: Annotated[str, Field(pattern=DATASET_NAME_PATTERN.pattern)]
    path: Path
    format: Literal["npz", "folder"]
    horizontal_flip_ok: bool
    image_size: Annotated[int, Field(ge=4)] | None = None
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = DEFAULT_VAL_FRACTION

    @field_validator("path", mode="before")
    @classmethod
    def _existing_path(cls, value: object, info: ValidationInfo) -> Path:
        if not isinstance(value, str) or not value:
            raise ValueError(_REQUIREMENTS["path"](value))
        path = (Path((info.context or {}).get("base", ".")) / value).expanduser()
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        return path

    def profile(self) -> DatasetProfile:
        """The profile from file headers and directory listings; no image is decoded."""
        if self.format == "npz":
            size, channels, labels = npz_summary(self.path)
        else:
            size, channels, labels = folder_summary(self.path)
        num_train, num_val = split_sizes(np.bincount(labels).tolist(), self.val_fraction)
        return DatasetProfile(
            name=self.name,
            num_train=num_train,
            num_val=num_val,
            num_classes=int(labels.max()) + 1,
            image_size=self.image_size or size,
            channels=channels,
            horizontal_flip_ok=self.horizontal_flip_ok,
            description=f"user data set ({self.format}) at {self.path}",
        )

    def load(self, profile: DatasetProfile, cache_dir: Path | None = None,
             memory_budget: int | None = None) -> LoadedDataset:
        """The data split and resized as `profile` says. An image folder's decoded copy is kept
        in `cache_dir` and streamed from there when larger than `memory_budget` bytes (see
        `worker.trainer.image_folder.load_folder`); an npz file is read whole."""
        if self.format == "folder":
            return load_folder(self.path, profile, self.val_fraction, cache_dir=cache_dir,
                               memory_budget=memory_budget)
        images, labels = read_npz(self.path)
        images = resize_images(images, profile.image_size)
        train_idx, val_idx = stratified_split(labels.numpy(), self.val_fraction)
        return normalise_split(profile, images, labels, train_idx, val_idx)


def read_dataset_config(path: str | Path) -> list[UserDataset]:
    """Every data set entry of the worker config file at `path`, checked; names are unique."""
    path = Path(path)
    datasets = [_parse_entry(entry, index, path.parent)
                for index, entry in enumerate(_read_entries(path))]
    seen: set[str] = set()
    for dataset in datasets:
        if dataset.name in seen:
            raise ValueError(f"datasets[].name: {dataset.name!r} appears more than once")
        seen.add(dataset.name)
    return datasets


def _read_entries(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot parse worker config: {error}") from error
    entries = document.get("datasets", []) if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ValueError(f"datasets: {path} must hold a list of data set entries")
    return entries


def _parse_entry(entry: Any, index: int, base: Path) -> UserDataset:
    where = f"datasets[{index}]"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each entry must be a table/object")
    try:
        return UserDataset.model_validate(dict(entry), context={"base": base})
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0])
        if first["type"] == "value_error":  # a validator's own message
            reason = str(first["ctx"]["error"])
        elif field in _REQUIREMENTS:
            reason = _REQUIREMENTS[field](entry.get(field))
        else:
            reason = first["msg"]
        raise ValueError(f"{where}.{field}: {reason}") from None
