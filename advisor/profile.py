"""`ModelProfile`: what the rules know of the network, resolved once from the request."""

from __future__ import annotations

from dataclasses import dataclass

from advisor.catalog import Kind


@dataclass(frozen=True)
class ModelProfile:
    """What the rules know of the network: its size, family and the kind of recipe it follows."""

    name: str
    family: str | None
    params_millions: float
    kind: Kind
    known: bool
