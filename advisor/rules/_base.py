"""The `Rule` base class and the `Context` a rule reads and writes.

A rule is a small object: an `id`, the hyperparameter keys it `sets`, the `stage` it runs in, when
it `applies`, what it `decides` (each value with its reason in the user's numbers), its guidance
`sources` and published `references`, and a worked `example` that the test suite runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from advisor.profile import ModelProfile
from advisor.schemas import EvidenceRecord, RecommendationRequest
from advisor.sources import Section

#: Stages run in order; a rule reads only keys set in earlier stages, so the order of rules
#: within a stage never matters. CHOOSE: optimizer and epochs. SHAPE: what follows from those
#: (momentum, augmentation level). BASE: values from the choices. ADJUST: refinements of base
#: values. REFINE: multiplicative refinements of adjusted values. CALIBRATE: evidence from
#: finished studies moves the rule-based values.
CHOOSE, SHAPE, BASE, ADJUST, REFINE, CALIBRATE = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Decision:
    """One value a rule sets, with the reason written for this request."""

    key: str
    value: Any
    reason: str
    #: How far off the rule may be, as a factor each way: the search region's half-width on a
    #: log scale (numeric keys only; None keeps the width an earlier rule gave).
    spread: float | None = None


@dataclass
class Step:
    rule: Rule
    reason: str
    value: Any = None


@dataclass
class Context:
    """The request, the model it names, the values decided so far and how they were decided."""

    request: RecommendationRequest
    model: ModelProfile
    values: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, list[Step]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The records of similar profiles, selected once by the engine when the CALIBRATE stage
    #: begins (similarity needs the optimizer); empty before then.
    evidence: list[EvidenceRecord] = field(default_factory=list)
    #: The search half-width (a factor) each numeric key's last rule gave, with its reason.
    spreads: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        return self.request.training.batch_size

    @property
    def epochs(self) -> int:
        return int(self.values["epochs"])

    @property
    def optimizer(self) -> str:
        return str(self.values["optimizer"])

    @property
    def num_images(self) -> int:
        return self.request.dataset.num_train_images

    @property
    def augmentation(self) -> str:
        return str(self.values.get("augmentation", "standard"))

    @property
    def pretrained(self) -> bool:
        return self.request.training.pretrained

    @property
    def pretraining(self) -> str | None:
        """The kind of pretrained weights (None from scratch; supervised-1k when unsaid)."""
        if not self.request.training.pretrained:
            return None
        return self.request.training.pretraining or "supervised-1k"

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass over the data: full batches, as the trial runner takes
        them (a last, partial batch is dropped)."""
        return max(1, self.num_images // self.batch_size)

    @property
    def total_steps(self) -> int:
        """Optimizer steps in the whole run: images / batch x epochs (needs the epochs)."""
        return self.steps_per_epoch * self.epochs

    def record(self, rule: Rule, decision: Decision) -> None:
        self.values[decision.key] = decision.value
        if decision.spread is not None:
            self.spreads[decision.key] = (decision.spread, rule.id)
        self.steps.setdefault(decision.key, []).append(Step(rule, decision.reason,
                                                            decision.value))


class Rule(ABC):
    """One piece of guidance turned into behaviour.

    Subclasses set the class attributes and implement `decide`; `applies` defaults to always.
    The engine calls `applies` then `decide` once per request, in stage order, and a later rule
    that sets the same key refines the value an earlier one set (both appear in the explanation).
    """

    id: ClassVar[str]
    sets: ClassVar[tuple[str, ...]]
    stage: ClassVar[int] = BASE
    summary: ClassVar[str]
    sources: ClassVar[tuple[Section, ...]]
    references: ClassVar[tuple[str, ...]] = ()
    #: A worked example: a request (as a dict) and values the rule must give for it.
    example: ClassVar[tuple[dict[str, Any], dict[str, Any]] | None] = None

    def applies(self, ctx: Context) -> bool:
        return True

    @abstractmethod
    def decide(self, ctx: Context) -> Iterable[Decision]:
        """Return the values this rule sets for the request in `ctx`."""


class AdviceRule(ABC):
    """A trick that is not a single number: said when its conditions hold."""

    id: ClassVar[str]
    summary: ClassVar[str]
    sources: ClassVar[tuple[Section, ...]]
    references: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def advise(self, ctx: Context) -> str | None:
        """Return the advice for this request, or None when the trick does not pay here."""
