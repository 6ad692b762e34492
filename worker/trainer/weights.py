"""Pretrained weights, found only on this machine: nothing here ever downloads.

A model's weights are looked for, in this order:

1. a ``[[weights]]`` entry in the worker's ``--config`` file (``model`` and ``path``; relative
   paths are relative to the config file)::

       [[weights]]
       model = "resnet50"
       path = "/models/resnet50-imagenet.pth"   # a state_dict (.pth/.pt/.bin) or .safetensors

2. torch hub's cache (``$TORCH_HOME/hub/checkpoints``, `torch.hub.get_dir`) under the file name
   torchvision's weights (or timm's URL weights) download to;
3. the Hugging Face hub cache (``$HF_HUB_CACHE``) for timm models whose weights live on the hub
   (timm's ``hf_hub_id``), read with `huggingface_hub.try_to_load_from_cache`, which never
   connects.

A job that asks for ``pretrained: true`` is accepted only when a worker reported weights for its
model (workers record what they find when they start, see `available_weights`).
"""

from __future__ import annotations

import functools
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.trainer.model_names import resolve_model

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")
HF_FILES = ("model.safetensors", "pytorch_model.bin")

_CONFIGURED: dict[str, Path] = {}


@dataclass(frozen=True)
class WeightsFile:
    """A weights file on this machine and where it was found (config, torch_hub, hf_hub)."""

    path: Path
    source: str


def torch_hub_checkpoints() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def hf_hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def where_weights_are_looked_for() -> str:
    """The places, in words, for messages that say no weights were found."""
    return (f"a [[weights]] entry (model, path) in the worker's --config file; torch hub's "
            f"cache ({torch_hub_checkpoints()}) under torchvision's or timm's file name; the "
            f"Hugging Face hub cache ({hf_hub_cache()}) for timm's hub weights. Weights are "
            "never downloaded")


def register_weights(model: str, path: str | Path) -> str:
    """Declare `path` as the weights of `model` (any spelling `resolve_model` accepts); returns
    the model's key (``torchvision:resnet50``). ValueError for unknown models or missing files."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"weights.path: {file} is not a file")
    if file.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ValueError(f"weights.path: {file} is not a weights file "
                         f"({', '.join(WEIGHT_SUFFIXES)})")
    ref = resolve_model(model)
    if ref.source == "builtin":
        raise ValueError(f"weights.model: {model!r} is a built-in network without pretrained "
                         "weights; pretrained weights are for torchvision and timm models")
    _CONFIGURED[ref.key] = file
    return ref.key


def register_weights_from_config(path: str | Path) -> list[str]:
    """Register the ``[[weights]]`` entries of a worker config file (JSON or TOML)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        document: Any = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot parse worker config: {error}") from error
    entries = document.get("weights", []) if isinstance(document, Mapping) else []
    if not isinstance(entries, list):
        raise ValueError(f"weights: {path} must hold a list of weights entries")
    keys = []
    for index, entry in enumerate(entries):
        where = f"weights[{index}]"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("model"), str) or not (
                isinstance(entry.get("path"), str)):
            raise ValueError(f"{where}: each entry needs model and path (strings)")
        try:
            keys.append(register_weights(entry["model"], path.parent / entry["path"]))
        except ValueError as error:
            raise ValueError(f"{where}.{error}") from None
    return keys


def clear_registered_weights() -> None:
    _CONFIGURED.clear()


def find_weights(source: str, name: str) -> WeightsFile | None:
    """Local weights for the library model `name` (``source`` torchvision or timm), or None."""
    key = f"{source}:{name}"
    if key in _CONFIGURED:
        return WeightsFile(_CONFIGURED[key], "config")
    if source == "torchvision":
        return _torchvision_cached(name)
    if source == "timm":
        return _timm_cached(name)
    return None


def _torchvision_cached(name: str) -> WeightsFile | None:
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None
    members = [enum.DEFAULT, *[m for m in enum if m is not enum.DEFAULT]]
    for member in members:
        file = torch_hub_checkpoints() / Path(member.url).name
        if file.is_file():
            return WeightsFile(file, "torch_hub")
    return None


def _timm_tags(name: str) -> list[Any]:
    import timm

    base, _, tag = name.partition(".")
    configs = []
    for full in [name] if tag else [base, *timm.list_pretrained(f"{base}.*")]:
        config = timm.models.get_pretrained_cfg(full)
        if config is not None:
            configs.append(config)
    return configs


def _timm_cached(name: str) -> WeightsFile | None:
    from huggingface_hub import try_to_load_from_cache

    for config in _timm_tags(name):
        if config.hf_hub_id:
            repo = config.hf_hub_id.split("@")[0]
            for filename in HF_FILES:
                found = try_to_load_from_cache(repo, filename)
                if isinstance(found, str):
                    return WeightsFile(Path(found), "hf_hub")
        if config.url:
            file = torch_hub_checkpoints() / Path(config.url).name
            if file.is_file():
                return WeightsFile(file, "torch_hub")
    return None


def available_weights() -> dict[str, WeightsFile]:
    """Every model key with weights on this machine: the configured ones and those in the caches
    (one scan of the two cache folders; only models whose files are there are checked)."""
    found = {key: WeightsFile(path, "config") for key, path in _CONFIGURED.items()}
    found.update({key: file for key, file in _cached_weights().items() if key not in found})
    return found


@functools.cache
def _cached_weights() -> dict[str, WeightsFile]:
    found: dict[str, WeightsFile] = {}
    hub = torch_hub_checkpoints()
    files = {f.name for f in hub.iterdir()} if hub.is_dir() else set()
    repos = _hf_repos()
    if not (files or repos):
        return found  # empty caches: no need to import torchvision and timm (~3 s) at start
    import timm
    import torchvision

    if files:
        for name in torchvision.models.list_models(module=torchvision.models):
            if (file := _torchvision_cached(name)) is not None:
                found[f"torchvision:{name}"] = file
    if files or repos:
        for full in timm.list_pretrained():  # "resnet50.a1_in1k": offered by tag and by name
            config = timm.models.get_pretrained_cfg(full)
            if config is None:
                continue
            hf = (config.hf_hub_id or "").split("@")[0]
            if (hf in repos or (config.url and Path(config.url).name in files)) and (
                    file := _timm_cached(full)) is not None:
                found[f"timm:{full}"] = file
                found.setdefault(f"timm:{full.split('.')[0]}", file)
    return found


def _hf_repos() -> set[str]:
    cache = hf_hub_cache()
    if not cache.is_dir():
        return set()
    return {child.name.removeprefix("models--").replace("--", "/")
            for child in cache.iterdir() if child.name.startswith("models--")}


def read_state_dict(path: Path) -> dict[str, Any]:
    """A state_dict from a .safetensors file or a torch file (``weights_only``: no code runs);
    checkpoints that wrap it under ``state_dict``, ``model`` or ``model_state`` are unwrapped."""
    import torch

    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "model_state"):
        if isinstance(loaded, Mapping) and isinstance(loaded.get(wrapper), Mapping):
            loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping):
        raise ValueError(f"weights: {path} does not hold a state_dict")
    return {key.removeprefix("module."): value for key, value in loaded.items()}
