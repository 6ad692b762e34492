"""`GET /v1/models` (the advisor's model catalog) and `GET /v1/rules` (its rule registry)."""

from __future__ import annotations

import difflib
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import WithJsonSchema

from advisor.catalog import ModelInfo, families, list_models, normalize
from api.rulebook import rule_views
from api.schemas import RuleView
from worker.errors import FieldError

router = APIRouter(prefix="/v1", tags=["catalog"])

#: The schema lists the catalog's families; `models_of` also takes them in another case or with
#: separators (``ResNet``, ``convnext-v2``) and answers any other name with a 422.
Family = Annotated[str, WithJsonSchema({"type": "string", "enum": families()})]


def models_of(family: str | None) -> list[ModelInfo]:
    """The catalog, or one family of it; an unknown family is a 422 naming close ones."""
    if family is not None and normalize(family) not in {normalize(f) for f in families()}:
        close = difflib.get_close_matches(family.lower(), families(), n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FieldError(("query", "family"), f"unknown family {family!r}{hint} "
                         "(GET /v1/models lists every model with its family)", close)
    return list_models(family)


@router.get("/models", response_model=list[ModelInfo])
def get_models(
    family: Annotated[Family | None, Query(max_length=100, description="e.g. resnet")] = None,
) -> list[ModelInfo]:
    """The models the advisor knows by name: family, size in millions, training kind, aliases."""
    return models_of(family)


@router.get("/rules", response_model=list[RuleView])
def get_rules() -> list[RuleView]:
    """The rule registry: id, the keys each rule sets, its stage, why, and its sources."""
    return rule_views()
