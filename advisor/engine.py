"""`recommend`: resolve the model, walk the rules in stage order, explain every value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from advisor import catalog, similar_studies
from advisor.profile import ModelProfile
from advisor.rules import ADVICE, CALIBRATE, Context, rules_in_order
from advisor.rules._base import Step
from advisor.schemas import (
    Advice,
    EvidenceRecord,
    Explanation,
    Recommendation,
    RecommendationRequest,
    Source,
)
from advisor.search_space import build_search_space

#: Every key a recommendation sets, in the order they are shown.
HYPERPARAMETER_KEYS = (
    "optimizer", "momentum", "learning_rate", "lr_schedule", "lr_schedule_params",
    "warmup_epochs", "warmup_start_lr", "epochs", "batch_size", "weight_decay", "no_bias_decay",
    "label_smoothing", "augmentation", "crop_scale", "crop_ratio", "horizontal_flip",
    "mixup_alpha", "cutmix_alpha", "auto_augment", "random_erasing",
)


class AdvisorInputError(ValueError):
    """A request the advisor cannot answer: names the field, what is wrong, what is allowed."""

    def __init__(self, field: str, message: str, suggestions: list[str] | None = None) -> None:
        self.field = field
        self.message = message
        self.suggestions = suggestions or []
        super().__init__(f"{field}: {message}")


def resolve_model(request: RecommendationRequest) -> ModelProfile:
    spec = request.model
    info = catalog.find_model(spec.name) if spec.name else None
    if info is not None:
        return ModelProfile(info.name, info.family, spec.params_millions or info.params_millions,
                            info.kind, known=True)
    if spec.params_millions is None:
        close = catalog.suggest_models(spec.name or "")
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise AdvisorInputError(
            "model.name", f"unknown model {spec.name!r}{hint} Give model.params_millions to "
            "get advice from the model's size alone.", close)
    family = spec.family.lower() if spec.family else None
    members = catalog.list_models(family) if family else []
    kind = members[0].kind if members else "convnet"
    return ModelProfile(spec.name or f"{spec.params_millions:g}M-parameter model", family,
                        spec.params_millions, kind, known=False)


def _explain(key: str, value: Any, steps: list[Step]) -> Explanation:
    sections = dict.fromkeys(s for step in steps for s in step.rule.sources)
    references = dict.fromkeys(r for step in steps for r in step.rule.references)
    reason = steps[0].reason + "".join(f"; then {step.reason}" for step in steps[1:])
    sources: list[Source] = [section.source() for section in sections]
    # Every field is built here from typed values: construct without re-validating.
    return Explanation.model_construct(
        key=key, value=value, rule=steps[-1].rule.id, rules=[step.rule.id for step in steps],
        reason=reason, sources=sources, references=list(references))


def _rule_based(steps: dict[str, list[Step]], values: dict[str, Any]) -> dict[str, Any]:
    """The value each key had before calibration, where calibration changed it."""
    before: dict[str, Any] = {}
    for key, history in steps.items():
        rules_only = [step for step in history if step.rule.stage < CALIBRATE]
        if rules_only and rules_only[-1].value != values.get(key):
            before[key] = rules_only[-1].value
    return before


def recommend(request: RecommendationRequest | Mapping[str, Any],
              evidence: Iterable[EvidenceRecord | Mapping[str, Any]] = ()) -> Recommendation:
    """Turn a training profile into a complete, explained set of hyperparameters.

    >>> rec = recommend({"model": {"name": "resnet50"}, "training": {"batch_size": 1024}})
    >>> rec.hyperparameters["learning_rate"], rec.explanation("learning_rate").rule
    (0.4, 'lr.linear_scaling')

    `evidence` holds records of finished studies (plain data); those of similar profiles
    calibrate the values, and the explanations say which and by how much.
    """
    if not isinstance(request, RecommendationRequest):
        request = RecommendationRequest.model_validate(request)
    records = [r if isinstance(r, EvidenceRecord) else EvidenceRecord.model_validate(r)
               for r in evidence]
    ctx = Context(request=request, model=resolve_model(request))
    selected = False
    for rule in rules_in_order():
        if not selected and rule.stage >= CALIBRATE:  # the optimizer is chosen by now
            ctx.evidence = similar_studies.select(records, request, ctx.model, ctx.optimizer)
            selected = True
        if rule.applies(ctx):
            for decision in rule.decide(ctx):
                ctx.record(rule, decision)
    if not selected:
        ctx.evidence = similar_studies.select(records, request, ctx.model, ctx.optimizer)
    missing = [key for key in HYPERPARAMETER_KEYS if key not in ctx.values]
    if missing:
        raise RuntimeError(f"no rule set {missing}")  # a bug in the registry, not user input
    if not ctx.model.known:
        ctx.warnings.append(f"{ctx.model.name!r} is not in the catalog: advice follows its size "
                            f"({ctx.model.params_millions:g}M parameters) and the "
                            f"{ctx.model.kind} recipes")
    if not request.dataset.horizontal_flip_ok:
        ctx.warnings.append("horizontal flips are off because they change your labels")
    advice = [Advice(id=a.id, text=text, sources=[s.source() for s in a.sources],
                     references=list(a.references))
              for a in ADVICE if (text := a.advise(ctx)) is not None]
    values = {key: ctx.values[key] for key in HYPERPARAMETER_KEYS}
    return Recommendation(
        rule_based=_rule_based(ctx.steps, values),
        model=ctx.model.name,
        model_family=ctx.model.family,
        params_millions=ctx.model.params_millions,
        hyperparameters=values,
        explanations=[_explain(key, values[key], ctx.steps[key]) for key in HYPERPARAMETER_KEYS],
        search_space=build_search_space(request, values, len(ctx.evidence), ctx.spreads),
        advice=advice,
        warnings=ctx.warnings,
    )
