"""The advisor's rule registry rendered once, for everyone who shows it: `rule_views()` is what
``GET /v1/rules`` and ``hpadvisor rules --json`` answer (rules, advice and diagnosis rules);
`rules_markdown()` is the same entries as the README's table and ``hpadvisor rules``
(``scripts/update-readme-rules.py`` writes it into the README)."""

from __future__ import annotations

from advisor.rules import ADVICE, rules_in_order
from advisor.rules.diagnosis import DIAGNOSIS_RULES
from api.schemas import RuleView


def rule_views() -> list[RuleView]:
    """Every rule (by stage, then id: the order the engine runs them), then the advice and the
    diagnosis rules in registry order."""
    views = [RuleView(id=r.id, kind="rule", sets=list(r.sets), stage=r.stage, summary=r.summary,
                      sources=[s.source() for s in r.sources], references=list(r.references))
             for r in rules_in_order()]
    views += [RuleView(id=a.id, kind="advice", sets=[], stage=None, summary=a.summary,
                       sources=[s.source() for s in a.sources], references=list(a.references))
              for a in ADVICE]
    views += [RuleView(id=d.id, kind="diagnosis", sets=[d.key], stage=None,
                       summary=getattr(d, "summary", "") or f"when {d.state}: change {d.key}",
                       sources=[s.source() for s in d.sources],
                       references=list(getattr(d, "references", ())))
              for d in DIAGNOSIS_RULES]
    return views


def _sets(view: RuleView) -> str:
    if view.kind == "rule":
        return ", ".join(view.sets)
    return f"({view.kind})" + (f" {', '.join(view.sets)}" if view.sets else "")


def rules_markdown() -> str:
    """`rule_views()` as a Markdown table: id, what it sets, what it does, its sources."""
    lines = ["| rule | sets | what it does | sources |", "|---|---|---|---|"]
    for view in rule_views():
        cited = "; ".join(f"{s.document} § {s.section}" for s in view.sources)
        lines.append(f"| `{view.id}` | {_sets(view)} | {view.summary} | {cited} |")
    return "\n".join(lines)
