"""The registry of data sets the trial runner can train on: a profile and a loader per name.

A data set is registered as a cheap `DatasetProfile` (what the API shows and the advisor reasons
about) plus a loader that builds a `LoadedDataset` (`worker.trainer.splits`) on first use. The
built-ins (``digits``, ``shapes``: `worker.trainer.builtin_datasets`) are registered on import;
a user's own come from a worker config file (`register_datasets_from_config`, the format in
`worker.trainer.dataset_config`), as npz files (`npz_file`) or image folders (`image_folder`,
decoded once into a cache under the `cache_dir` that `load_dataset` is given)::

    from worker.trainer.datasets import dataset_profile, load_dataset

    dataset_profile("digits").num_train        # 1437, nothing loaded
    load_dataset("digits").x_train.shape       # (1437, 1, 32, 32)
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worker.dataset_profile import DatasetProfile, check_dataset_name
from worker.trainer.builtin_datasets import BUILTIN_DATASETS
from worker.trainer.dataset_config import read_dataset_config
from worker.trainer.splits import LoadedDataset

__all__ = [
    "DatasetProfile",
    "LoadedDataset",
    "dataset_names",
    "dataset_profile",
    "load_dataset",
    "register_dataset",
    "register_datasets_from_config",
]

#: How many loaded data sets a process keeps (the least recently used goes first).
LOADED_KEPT = 16


@dataclass(frozen=True)
class _Entry:
    profile: DatasetProfile
    #: Takes the image-folder cache directory and the memory budget.
    loader: Callable[[Path | None, int | None], LoadedDataset]


_REGISTRY: dict[str, _Entry] = {}
_LOADED: dict[tuple[str, int | None], LoadedDataset] = {}  # in use order, the latest last
_LOADED_LOCK = threading.Lock()


def register_dataset(
    name: str, loader: Callable[[], LoadedDataset], profile: DatasetProfile
) -> None:
    """Register (or replace) a data set under `name`; `loader` runs on first `load_dataset`."""
    _register(name, lambda cache_dir, memory_budget: loader(), profile)


def _register(name: str, loader: Callable[[Path | None, int | None], LoadedDataset],
              profile: DatasetProfile) -> None:
    check_dataset_name(name, "name")
    if profile.name != name:
        raise ValueError(f"name: profile.name {profile.name!r} differs from {name!r}")
    _REGISTRY[name] = _Entry(profile, loader)
    with _LOADED_LOCK:
        _LOADED.clear()


def register_datasets_from_config(path: str | Path) -> list[str]:
    """Register the data sets listed in a worker config file (JSON or TOML, the format in
    `worker.trainer.dataset_config`); return their names. Profiles are computed from file
    headers and directory listings; images load on first use."""
    datasets = read_dataset_config(path)
    for dataset in datasets:
        profile = dataset.profile()
        _register(dataset.name, functools.partial(dataset.load, profile), profile)
    return [dataset.name for dataset in datasets]


def dataset_names() -> list[str]:
    """Names of all registered data sets, sorted."""
    return sorted(_REGISTRY)


def dataset_profile(name: str) -> DatasetProfile:
    """The profile of a registered data set; never loads or generates the data."""
    return _entry(name).profile


def load_dataset(name: str, cache_dir: Path | None = None,
                 memory_budget: int | None = None) -> LoadedDataset:
    """Load a registered data set, once per process (the last `LOADED_KEPT` are kept).

    `cache_dir` is where an image folder's decoded copy is kept (None: ~/.cache/hpadvisor/
    folders); the images do not depend on it, so the process keeps one copy per name and
    budget. An image folder whose images take more than `memory_budget` bytes (None: half of
    the memory available) stays on disk and is streamed.
    """
    with _LOADED_LOCK:
        data = _LOADED.pop((name, memory_budget), None)
    if data is None:
        data = _entry(name).loader(cache_dir, memory_budget)
    with _LOADED_LOCK:
        _LOADED[(name, memory_budget)] = data
        while len(_LOADED) > LOADED_KEPT:
            del _LOADED[next(iter(_LOADED))]
    return data


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"dataset: unknown data set {name!r}; registered: {', '.join(dataset_names())}"
        ) from None


for _profile, _loader in BUILTIN_DATASETS:
    register_dataset(_profile.name, _loader, _profile)
