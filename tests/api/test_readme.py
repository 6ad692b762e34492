"""The README's rule table is the registry's, not a second copy that can drift."""

from __future__ import annotations

from pathlib import Path

from api.rulebook import rules_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_rule_table_is_generated_from_the_registry():
    text = README.read_text()
    start = text.index("<!-- rules:start -->") + len("<!-- rules:start -->")
    table = text[start:text.index("<!-- rules:end -->")].strip()
    assert table == rules_markdown(), (
        "README rule table is stale: regenerate with scripts/update-readme-rules.py")
