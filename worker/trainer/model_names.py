"""Model names: which library builds a model, and under which of its names.

`resolve_model` turns a name into a `ModelRef`:

1. the built-ins: ``small_cnn``, ``resnet20/32/44/56/110[_w{k}]`` (CIFAR ResNets),
   ``mobilenet_v2_small[_x{a}_{b}]`` (see `worker.trainer.small_nets`);
2. ``torchvision:NAME`` or ``timm:NAME`` pick a library explicitly;
3. otherwise the name and the catalog's other spellings of it (`advisor.catalog`: torchvision,
   timm and PaddleClas spellings, e.g. ``ResNet50_vd`` -> timm's ``resnet50d``) are looked up in
   torchvision's classification models first, then in timm's (a timm weight tag such as
   ``resnet50.a1_in1k`` is kept); case, dashes and underscores do not matter;
4. any other ``resnet{6n+2}`` is a CIFAR ResNet.

Unknown names raise `UnknownModel`, a ValueError with close suggestions. A leaf: building
(`worker.trainer.models`) and local weights (`worker.trainer.weights`) both read names here.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Literal

Source = Literal["builtin", "torchvision", "timm"]

BUILTIN_NAMES = (
    "small_cnn",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "resnet110",
    "resnet20_w2",
    "resnet32_w2",
    "resnet20_w4",
    "mobilenet_v2_small",
    "mobilenet_v2_small_x0_5",
    "mobilenet_v2_small_x0_75",
    "mobilenet_v2_small_x1_4",
)
RESNET_PATTERN = re.compile(r"^resnet(\d+)(?:_w(\d+))?$")
MOBILENET_PATTERN = re.compile(r"^mobilenet_v2_small(?:_x(\d+)_(\d+))?$")
_CIFAR_DEPTHS = (20, 32, 44, 56, 110)


class UnknownModel(ValueError):
    """No library builds a model of that name; `suggestions` holds close names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"model: unknown model {name!r}{hint} (the trial runner builds "
                         "torchvision's and timm's classifiers and its small built-in nets)")


@dataclass(frozen=True)
class ModelRef:
    """Which library builds the model and under which of its names."""

    source: Source
    name: str

    @property
    def key(self) -> str:
        """``torchvision:resnet18``, ``timm:vit_tiny_patch16_224``, or the built-in's name."""
        return self.name if self.source == "builtin" else f"{self.source}:{self.name}"


@functools.cache
def _torchvision_names() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


@functools.cache
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


@functools.lru_cache(maxsize=256)
def _timm_tags(name: str) -> frozenset[str]:
    import timm

    return frozenset(timm.list_pretrained(f"{name}.*"))


def _loose(name: str) -> str:
    return re.sub(r"[-_ ]", "", name.strip().lower())


@functools.cache
def _loose_index(source: Source) -> dict[str, str]:
    names = _torchvision_names() if source == "torchvision" else _timm_names()
    index: dict[str, str] = {}
    for name in names:
        index.setdefault(_loose(name), name)
    return index


def _library_name(source: Source, spelling: str) -> str | None:
    names = _torchvision_names() if source == "torchvision" else _timm_names()
    base, dot, tag = spelling.partition(".")
    if dot:  # a timm weight tag, resnet50.a1_in1k: only timm's, and only one it has
        found = _library_name("timm", base) if source == "timm" else None
        return f"{found}.{tag}" if found and f"{found}.{tag}" in _timm_tags(found) else None
    if spelling in names:
        return spelling
    return _loose_index(source).get(_loose(spelling))


def _builtin(name: str) -> bool:
    if name in BUILTIN_NAMES or MOBILENET_PATTERN.match(name):
        return True
    match = RESNET_PATTERN.match(name)
    return bool(match and int(match[1]) in _CIFAR_DEPTHS)


def _cifar_resnet(name: str) -> bool:
    match = RESNET_PATTERN.match(name)
    return bool(match and (int(match[1]) - 2) % 6 == 0 and int(match[1]) >= 8)


@functools.lru_cache(maxsize=1024)
def resolve_model(name: str) -> ModelRef:
    """The library and name behind `name` (see the module docstring); UnknownModel if none."""
    from advisor import catalog

    spelled = name.strip()
    if _builtin(spelled):
        return ModelRef("builtin", spelled)
    prefix, colon, rest = spelled.partition(":")
    if colon and prefix in ("torchvision", "timm"):
        found = _library_name(prefix, rest.strip())  # type: ignore[arg-type]
        if found is None:
            raise UnknownModel(name, suggest_models(rest))
        return ModelRef(prefix, found)  # type: ignore[arg-type]
    spellings = [spelled]
    info = catalog.find_model(spelled)
    if info is not None and "." not in spelled:  # a weight tag must be timm's own, not dropped
        spellings += [info.name, *info.aliases]
    for spelling in spellings:
        for source in ("torchvision", "timm"):
            if (found := _library_name(source, spelling)) is not None:  # type: ignore[arg-type]
                return ModelRef(source, found)  # type: ignore[arg-type]
    if _cifar_resnet(spelled):
        return ModelRef("builtin", spelled)
    raise UnknownModel(name, suggest_models(spelled))


def suggest_models(name: str, n: int = 5) -> list[str]:
    """Up to `n` names the trial runner builds that are close to `name`."""
    names = [*BUILTIN_NAMES, *_torchvision_names(), *_timm_names()]
    loose = {}
    for known in names:
        loose.setdefault(_loose(known), known)
    key = _loose(name)
    starts = sorted((k for k in loose if len(key) >= 3 and k.startswith(key)), key=len)[:n]
    close = difflib.get_close_matches(key, list(loose), n=n, cutoff=0.6)
    return list(dict.fromkeys(loose[k] for k in [*close, *starts]))[:n]


def model_names() -> list[str]:
    """The built-in nets' names (torchvision's and timm's names are theirs: see
    `torchvision.models.list_models` and `timm.list_models`)."""
    return list(BUILTIN_NAMES)
