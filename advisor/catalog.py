"""The model catalog's lookups: find, suggest and list the image classifiers the advisor knows.

Each entry records a network's family, its ImageNet-1k parameter count in millions and its
training ``kind`` (the lineage whose published recipe the advisor starts from), together with the
other spellings torchvision, timm and PaddleClas use for the same network. Lookups forgive case,
dashes, underscores, spaces and dots; unknown names get close suggestions.

Parameter counts are the published ones: torchvision's weight metadata, timm's model cards and
PaddleClas's model-zoo tables. Where two sources disagree by more than a few percent about what
is really a different network (a wider head, another block layout), the catalog keeps two entries
rather than averaging them.

The entries themselves live in ``data/catalog.json`` (package data, read and validated once, at
import): sections by training lineage, then groups by family and kind, one entry a line with its
aliases as a list; a ``note`` beside an entry or a group says why its count differs from another
source's. This module holds the lookups over them.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Kind = Literal[
    "convnet",
    "convnet_no_bn",
    "mobile_convnet",
    "nas_convnet",
    "modern_convnet",
    "transformer",
    "hybrid",
]
#: The kinds trained with transformer-style recipes: AdamW, warmup, strong augmentation.
TRANSFORMER_KINDS: tuple[Kind, ...] = ("transformer", "hybrid", "modern_convnet")

__all__ = [
    "TRANSFORMER_KINDS",
    "Kind",
    "ModelInfo",
    "families",
    "find_model",
    "list_models",
    "normalize",
    "suggest_models",
]


class ModelInfo(BaseModel):
    """One known classifier: its canonical name, family, size, training kind and other spellings."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: str
    params_millions: float
    kind: Kind
    aliases: tuple[str, ...] = ()


_Spelling = Annotated[str, StringConstraints(pattern=r"^\S+$")]


class _Row(BaseModel):
    """One entry as ``data/catalog.json`` spells it; its family and kind are its group's."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: _Spelling
    params_millions: float = Field(gt=0)
    aliases: tuple[_Spelling, ...]
    note: str = ""


class _Group(BaseModel):
    """One family's entries that train the same way (a family may have several groups)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    family: _Spelling
    kind: Kind
    note: str = ""
    models: tuple[_Row, ...]


class _Section(BaseModel):
    """Groups that share a lineage, under a heading that says how they train."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    about: str
    groups: tuple[_Group, ...]


class _CatalogFile(BaseModel):
    """The whole of ``data/catalog.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    sections: tuple[_Section, ...]


def _read_catalog_file() -> _CatalogFile:
    """``data/catalog.json``, shipped inside the package, read and validated."""
    path = resources.files("advisor").joinpath("data").joinpath("catalog.json")
    return _CatalogFile.model_validate_json(path.read_text(encoding="utf-8"))


_STRIP = re.compile(r"[-_ .]")
_DIGIT_SEPARATOR = re.compile(r"(?<=\d)[-_ .]+(?=\d)")

#: Keys that plain normalisation cannot tell apart, because it merges "1_6" with "16" and "3_2"
#: with "32". Names spelled with their separators still resolve exactly (see ``_exact_key``);
#: only the bare run-together key is ambiguous, and it yields suggestions instead of a guess.
_EXPECTED_AMBIGUOUS = frozenset({"regnetx16gf", "regnetx32gf", "regnety16gf", "regnety32gf"})


def normalize(name: str) -> str:
    """Lower-case ``name`` and drop dashes, underscores, spaces and dots."""
    return _STRIP.sub("", name.lower())


def _exact_key(name: str) -> str:
    """Like ``normalize``, but a separator between two digits survives as '|'.

    This keeps "regnet_x_1_6gf" (1.6 GFLOPs) apart from "regnet_x_16gf" (16 GFLOPs) while
    still equating "RegNetX_1.6GF" with "regnet-x-1-6gf".
    """
    return _STRIP.sub("", _DIGIT_SEPARATOR.sub("|", name.strip().lower()))


def _expand(data: _CatalogFile) -> tuple[ModelInfo, ...]:
    """Every entry in file order, with its group's family and kind."""
    return tuple(
        ModelInfo(
            name=row.name,
            family=group.family,
            params_millions=row.params_millions,
            kind=group.kind,
            aliases=row.aliases,
        )
        for section in data.sections
        for group in section.groups
        for row in group.models
    )


def _spellings(model: ModelInfo) -> tuple[str, ...]:
    return (model.name, *model.aliases)


def _build_indexes(
    models: tuple[ModelInfo, ...],
) -> tuple[dict[str, ModelInfo], dict[str, ModelInfo], dict[str, tuple[ModelInfo, ...]]]:
    """Index every spelling; refuse two entries behind one exact key.

    Returns the exact index, the normalised index (unambiguous keys only) and the normalised
    keys shared by more than one entry.
    """
    exact: dict[str, ModelInfo] = {}
    by_norm: dict[str, list[ModelInfo]] = {}
    for model in models:
        for spelling in _spellings(model):
            key = _exact_key(spelling)
            other = exact.setdefault(key, model)
            if other is not model:
                raise ValueError(
                    f"catalog spelling {spelling!r} of {model.name!r} collides with "
                    f"{other.name!r} (key {key!r})"
                )
            owners = by_norm.setdefault(normalize(spelling), [])
            if model not in owners:
                owners.append(model)
    loose = {key: owners[0] for key, owners in by_norm.items() if len(owners) == 1}
    ambiguous = {key: tuple(owners) for key, owners in by_norm.items() if len(owners) > 1}
    return exact, loose, ambiguous


_MODELS: tuple[ModelInfo, ...] = _expand(_read_catalog_file())
_EXACT, _LOOSE, _AMBIGUOUS = _build_indexes(_MODELS)

#: Every normalised spelling with the entries behind it, ambiguous ones included.
_ALL_KEYS: dict[str, tuple[ModelInfo, ...]] = {
    **{key: (model,) for key, model in _LOOSE.items()},
    **_AMBIGUOUS,
}

if len({m.name for m in _MODELS}) != len(_MODELS):
    raise ValueError("catalog has two entries with the same canonical name")
if set(_AMBIGUOUS) != _EXPECTED_AMBIGUOUS:
    raise ValueError(f"unexpected normalised-name collisions: {sorted(_AMBIGUOUS)}")


def _candidates(name: str) -> list[str]:
    """The spelling itself, then the same without a timm weight tag or a PaddleClas suffix."""
    out = [name]
    base, dot, tag = name.rpartition(".")
    if dot and base and tag[:1].isalpha():  # "resnet50.a1_in1k" -> "resnet50"
        out.append(base)
    for spelling in list(out):
        trimmed = re.sub(r"[-_ ]?ssld$", "", spelling, flags=re.IGNORECASE)
        if trimmed and trimmed != spelling:
            out.append(trimmed)
    return out


def find_model(name: str) -> ModelInfo | None:
    """The entry for ``name`` under any known spelling, ignoring case and separators."""
    stripped = name.strip()
    if not stripped:
        return None
    for spelling in _candidates(stripped):
        model = _EXACT.get(_exact_key(spelling)) or _LOOSE.get(normalize(spelling))
        if model is not None:
            return model
    return None


def suggest_models(name: str, n: int = 5) -> list[str]:
    """Up to ``n`` canonical names close to ``name``, best first.

    Entries whose spelling starts with the query (or that the query starts with) come first,
    then the nearest spellings by ``difflib`` similarity on normalised keys.
    """
    key = normalize(name)
    if not key or n <= 0:
        return []
    out: list[str] = []

    def add(models: tuple[ModelInfo, ...] | list[ModelInfo]) -> None:
        for model in models:
            if model.name not in out:
                out.append(model.name)

    by_key = _ALL_KEYS
    found = find_model(name)
    if found is not None:
        add([found])
    add(_AMBIGUOUS.get(key, ()))
    # The longest known name the query starts with: "resnet50custom" -> resnet50.
    heads = [k for k in by_key if len(k) >= 4 and key.startswith(k) and k != key]
    if heads:
        add(by_key[max(heads, key=len)])
    if len(key) >= 3:
        for k in sorted((k for k in by_key if k.startswith(key)), key=lambda k: (len(k), k)):
            add(by_key[k])
            if len(out) >= n:
                break
    for cutoff in (0.6, 0.4):
        for k in difflib.get_close_matches(key, list(by_key), n=4 * n, cutoff=cutoff):
            add(by_key[k])
        if out:
            break
    return out[:n]


def list_models(family: str | None = None) -> list[ModelInfo]:
    """All entries, or one family's (case- and separator-insensitive), by family then size."""
    wanted = None if family is None else normalize(family)
    chosen = [m for m in _MODELS if wanted is None or normalize(m.family) == wanted]
    return sorted(chosen, key=lambda m: (m.family, m.params_millions, m.name))


def families() -> list[str]:
    """The catalog's family names, sorted."""
    return sorted({m.family for m in _MODELS})
