"""The rules: one module per topic, each rule one registered class.

Importing this package registers every rule; the engine runs them by stage, then by id.
"""

from advisor.rules import (  # noqa: F401  (imported to register)
    augmentation,
    calibration,
    learning_rate,
    optimizer,
    regularization,
    schedule,
    tricks,
)
from advisor.rules._base import (
    ADJUST,
    BASE,
    CALIBRATE,
    CHOOSE,
    REFINE,
    SHAPE,
    AdviceRule,
    Context,
    Decision,
    Rule,
)
from advisor.rules._registry import ADVICE, RULES, find_rule, rules_in_order

__all__ = [
    "ADJUST",
    "ADVICE",
    "BASE",
    "CALIBRATE",
    "CHOOSE",
    "REFINE",
    "RULES",
    "SHAPE",
    "AdviceRule",
    "Context",
    "Decision",
    "Rule",
    "find_rule",
    "rules_in_order",
]
