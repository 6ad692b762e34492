"""What the worker side can run: objectives, data sets (with profiles) and trial-runner models.

The built-ins come from the trial runner (`worker.trainer`): the objective `image-classification`,
the data sets it registers (`digits`, `shapes`) and the models it builds. The trial runner
imports torch, so it is imported lazily, on the first question that needs it. Objectives and
data sets of a user's own are offered by workers, which record them in `registered_names` (data
sets with their profile) through `record_offer`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from datetime import datetime
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.schemas import BUILTIN_OBJECTIVE
from worker.store.models import RegisteredName, utcnow

BUILTIN_HOST = "built-in"
#: Catalog families of the trial runner's models, so the advisor picks the matching recipes.
MODEL_FAMILIES = (("resnet", "resnet"), ("mobilenet_v2", "mobilenet_v2"))


class ObjectiveInfo(BaseModel):
    name: str
    builtin: bool
    hosts: list[str]
    seen_at: datetime | None = None


class DatasetInfo(BaseModel):
    """A data set's profile (no data loaded) and who offers it."""

    name: str
    num_train: int
    num_val: int
    num_classes: int
    image_size: int
    channels: int
    horizontal_flip_ok: bool
    description: str = ""
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
    return list(_trainer().model_names())


def trainer_model_params(name: str, num_classes: int, channels: int) -> float:
    """Millions of parameters of a trial-runner model; ValueError naming allowed names."""
    return float(_trainer().model_params_millions(name, num_classes, channels))


def trainer_model_family(name: str) -> str | None:
    return next((family for prefix, family in MODEL_FAMILIES if name.startswith(prefix)), None)


def _builtin_datasets() -> list[DatasetInfo]:
    trainer = _trainer()
    return [DatasetInfo(**dataclasses.asdict(trainer.dataset_profile(name)), builtin=True,
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
