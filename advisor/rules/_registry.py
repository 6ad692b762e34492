"""The registry the engine walks: every rule and piece of advice, in the order they were declared.

Registering is one decorator on the class; nothing else needs to change to add a rule.
"""

from __future__ import annotations

from typing import TypeVar

from advisor.rules._base import AdviceRule, Rule

RULES: list[Rule] = []
ADVICE: list[AdviceRule] = []

R = TypeVar("R", bound=type[Rule])
A = TypeVar("A", bound=type[AdviceRule])


def register(cls: R) -> R:
    """Class decorator: add one instance of the rule to the registry (ids must be unique)."""
    if any(rule.id == cls.id for rule in RULES):
        raise ValueError(f"duplicate rule id {cls.id!r}")
    RULES.append(cls())
    return cls


def register_advice(cls: A) -> A:
    if any(advice.id == cls.id for advice in ADVICE):
        raise ValueError(f"duplicate advice id {cls.id!r}")
    ADVICE.append(cls())
    return cls


def rules_in_order() -> list[Rule]:
    """By stage, then id: independent of the order modules happen to be imported in."""
    return sorted(RULES, key=lambda rule: (rule.stage, rule.id))


def find_rule(rule_id: str) -> Rule | AdviceRule:
    items: list[Rule | AdviceRule] = [*RULES, *ADVICE]
    for item in items:
        if item.id == rule_id:
            return item
    raise KeyError(rule_id)
