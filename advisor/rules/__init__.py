"""The rules: one module per topic, each rule one registered class.

Importing this package registers every rule in a fixed order (the order of the imports below,
then declaration order inside each module); the engine sorts them by stage.
"""

from advisor.rules import (  # noqa: F401  (imported to register)
    augmentation,
    learning_rate,
    optimizer,
    regularization,
    schedule,
    tricks,
)
from advisor.rules._base import ADJUST, BASE, CHOOSE, EXTRA, AdviceRule, Context, Decision, Rule
from advisor.rules._registry import ADVICE, RULES, find_rule, rules_in_order

__all__ = [
    "ADJUST",
    "ADVICE",
    "BASE",
    "CHOOSE",
    "EXTRA",
    "RULES",
    "AdviceRule",
    "Context",
    "Decision",
    "Rule",
    "find_rule",
    "rules_in_order",
]
