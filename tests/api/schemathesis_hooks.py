"""A schemathesis check of our own, loaded by ``schemathesis.toml`` (``hooks = ...``).

The document states every rule of a body it can; `api.responses.invalid` documents the rest,
and ``schemathesis.toml`` lets three operations answer a schema-valid body with 422 for them.
This check keeps that allowance narrow: such a 422 must name one of the fields those rules are
about, so a new rule the document does not state still fails the run.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: Operation -> the `loc`s a 422 may name for a schema-valid body, and why.
UNSTATED_RULES: dict[str, dict[tuple[str, ...], str]] = {
    "POST /v1/recommendations": {
        ("body", "model", "name"): "a model the advisor knows (spellings are looked up)"},
    "POST /v1/jobs": {
        ("body", "objective"): "an objective a worker registered",
        ("body", "dataset"): "a data set a worker registered",
        ("body", "model", "name"): "a model the objective can build",
        ("body", "training", "pretrained"): "pretrained weights a worker has for the model",
        ("body", "training", "image_size"): "at most the data set's resolution"},
    "POST /v1/diagnoses": {
        ("body",): "train_accuracy and val_accuracy of equal length"},
}


@schemathesis.check
def refusals_name_a_documented_rule(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid body refused with 422 names a field of a rule the 422 documents."""
    meta = case.meta
    if response.status_code != 422 or meta is None or not meta.generation.mode.is_positive:
        return None
    allowed = UNSTATED_RULES.get(case.operation.label, {})
    named = {tuple(item.get("loc", ())) for item in response.json().get("detail", [])}
    unexpected = sorted(named - set(allowed))
    if unexpected:
        raise AssertionError(
            f"a schema-valid body was refused for {unexpected}, which no documented rule of "
            f"{case.operation.label} covers ({', '.join(allowed.values()) or 'none'}); "
            "state the rule in the schema, or document it in api.responses.invalid and here")
    return None
