"""What the worker side can run: objectives, data sets (with profiles), trial-runner models and
the pretrained weights workers hold.

The built-ins come from the trial runner (`worker.trainer`): the objective `image-classification`,
the data sets it registers (`digits`, `shapes`) and the models it builds (torchvision's, timm's,
the small nets). The trial runner imports torch, torchvision and timm, so it is imported lazily,
on the first question that needs it. Objectives, data sets and weights of a user's own are
offered by workers, which record them in `registered_names` through `record_offer` (data sets
with their profile; the models a host holds weights for in its built-in objective's profile).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.dataset_profile import DatasetProfile
from worker.schemas import BUILTIN_OBJECTIVE
from worker.store.models import RegisteredName, utcnow

BUILTIN_HOST = "built-in"


class ObjectiveInfo(BaseModel):
    name: str
    builtin: bool
    hosts: list[str]
    seen_at: datetime | None = None


class DatasetInfo(DatasetProfile):
    """A data set's profile (no data loaded) and who offers it."""

    model_config = ConfigDict(frozen=False)

    builtin: bool
    hosts: list[str]
    seen_at: datetime | None = None


@functools.cache
def _trainer() -> ModuleType:
    import worker.trainer  # torch: imported on first use only

    return worker.trainer


def warm_up() -> None:
    """Import the trial runner now (about 2 s for torch) so the first job request is quick."""
    _trainer()


def trainer_model_names() -> list[str]:
    """The small built-in nets (torchvision's and timm's models are theirs)."""
    return list(_trainer().model_names())


@dataclasses.dataclass(frozen=True)
class TrainerModel:
    """A model as the trial runner builds it for a data set."""

    key: str  # torchvision:resnet18, timm:vit_tiny_patch16_224 or a built-in's name
    library_name: str
    params_millions: float
    family: str | None
    input_note: str | None


class UnknownTrainerModel(ValueError):
    def __init__(self, message: str, suggestions: list[str]) -> None:
        super().__init__(message)
        self.suggestions = suggestions


def trainer_model(name: str, num_classes: int, channels: int, image_size: int) -> TrainerModel:
    """The model the trial runner builds for `name` on such data: its real parameter count and
    family. UnknownTrainerModel (with close names) when nothing builds it."""
    trainer = _trainer()
    try:
        ref = trainer.resolve_model(name)
        params, family, note = trainer.describe_model(ref.key, num_classes, channels,
                                                      image_size)
    except trainer.UnknownModel as error:
        raise UnknownTrainerModel(str(error).removeprefix("model: "),
                                  error.suggestions) from None
    except (ValueError, RuntimeError, TypeError, AssertionError) as error:  # the library's own
        raise UnknownTrainerModel(f"the trial runner cannot build {name!r} for this data set "
                                  f"({num_classes} classes, {channels} channels, {image_size} "
                                  f"px): {str(error).removeprefix('model: ')}", []) from None
    return TrainerModel(ref.key, ref.name, float(params), family, note)


def trainer_model_params(name: str, num_classes: int, channels: int) -> float:
    """Millions of parameters of a trial-runner model; ValueError for unknown names."""
    return float(_trainer().model_params_millions(name, num_classes, channels))


def check_trial_config(hyperparameters: dict[str, Any]) -> None:
    """ValueError naming the first advised key the trial runner cannot apply."""
    _trainer().check_applicable(hyperparameters)


#: Key of the built-in objective's offer profile listing the models a host holds weights for.
WEIGHTS_PROFILE_KEY = "pretrained_weights"


def weights_profile(weights: dict[str, Any]) -> dict[str, Any]:
    """The profile a worker records with its built-in objective: model key -> weights file."""
    return {WEIGHTS_PROFILE_KEY: {key: {"path": str(file.path), "source": file.source}
                                  for key, file in weights.items()}}


def weights_hosts(session: Session, model_key: str) -> list[str]:
    """The worker hosts that reported local pretrained weights for `model_key`."""
    rows = _offers(session, "objective").get(BUILTIN_OBJECTIVE, [])
    return [row.host for row in rows
            if model_key in ((row.profile or {}).get(WEIGHTS_PROFILE_KEY) or {})]


def where_weights_are_looked_for() -> str:
    return str(_trainer().where_weights_are_looked_for())


def _builtin_datasets() -> list[DatasetInfo]:
    trainer = _trainer()
    return [DatasetInfo(**trainer.dataset_profile(name).model_dump(), builtin=True,
                        hosts=[BUILTIN_HOST]) for name in trainer.dataset_names()]


def _offers(session: Session, kind: str) -> dict[str, list[RegisteredName]]:
    rows = session.scalars(select(RegisteredName).where(RegisteredName.kind == kind)
                           .order_by(RegisteredName.name, RegisteredName.host))
    grouped: dict[str, list[RegisteredName]] = {}
    for row in rows:
        grouped.setdefault(row.name, []).append(row)
    return grouped


def list_objectives(session: Session) -> list[ObjectiveInfo]:
    found = [ObjectiveInfo(name=BUILTIN_OBJECTIVE, builtin=True, hosts=[BUILTIN_HOST])]
    for name, rows in _offers(session, "objective").items():
        if name != BUILTIN_OBJECTIVE:
            found.append(ObjectiveInfo(name=name, builtin=False, hosts=[r.host for r in rows],
                                       seen_at=max(r.seen_at for r in rows)))
    return found


def list_datasets(session: Session) -> list[DatasetInfo]:
    found = {info.name: info for info in _builtin_datasets()}
    for name, rows in _offers(session, "dataset").items():
        latest = max(rows, key=lambda r: r.seen_at)
        if name not in found and (info := _offered_dataset(name, rows, latest)) is not None:
            found[name] = info
    return sorted(found.values(), key=lambda info: (not info.builtin, info.name))


def _offered_dataset(name: str, rows: list[RegisteredName],
                     latest: RegisteredName) -> DatasetInfo | None:
    """The profile a worker recorded, or None when it is missing or malformed."""
    profile = {key: value for key, value in (latest.profile or {}).items()
               if key in DatasetInfo.model_fields}
    try:
        return DatasetInfo.model_validate({
            **profile, "name": name, "builtin": False, "hosts": [r.host for r in rows],
            "seen_at": latest.seen_at})
    except ValidationError:
        return None


def find_dataset(session: Session, name: str) -> DatasetInfo | None:
    return next((info for info in list_datasets(session) if info.name == name), None)


def record_offer(session: Session, kind: str, name: str, host: str,
                 profile: dict[str, Any] | None = None) -> None:
    """Upsert that `host` offers the objective or data set `name` (workers call this)."""
    row = session.scalar(select(RegisteredName).where(
        RegisteredName.kind == kind, RegisteredName.name == name, RegisteredName.host == host))
    if row is None:
        session.add(RegisteredName(kind=kind, name=name, host=host, profile=profile))
    else:
        row.profile = profile
        row.seen_at = utcnow()


def names(infos: Iterable[ObjectiveInfo | DatasetInfo]) -> list[str]:
    return [info.name for info in infos]
