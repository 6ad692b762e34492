"""Regenerate the rule table in README.md from the registry (between the rules markers)."""

from pathlib import Path

from api.rulebook import rules_markdown

START, END = "<!-- rules:start -->", "<!-- rules:end -->"
readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
head, rest = text.split(START, 1)
readme.write_text(f"{head}{START}\n{rules_markdown()}\n{END}{rest.split(END, 1)[1]}")
