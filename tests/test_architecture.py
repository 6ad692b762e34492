"""The house rules, checked on the source: the one-way doors between the three rooms, no
import circles (lazy imports inside functions count: a lazy import that covers a circle is
still one), no SQL written in `api/`, the environment read only by the settings, and a
docstring atop every module.

Read statically with `ast`, so nothing is imported and the test takes a fraction of a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("advisor", "api", "worker")
#: Which rooms each room may import (`api -> worker -> advisor`, `api -> advisor`).
DOORS = {"advisor": {"advisor"}, "worker": {"worker", "advisor"},
         "api": {"api", "worker", "advisor"}}
#: SQLAlchemy's statement builders: a module that imports one writes SQL.
SQL_BUILDERS = {"select", "update", "delete", "insert", "text", "func"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for room in ROOMS for p in (ROOT / room).rglob("*.py")}


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that importing `name` runs, directly: each imported module and the
    packages above it (Python runs a package's __init__ before its submodules), except the
    packages above `name` itself, which Python has entered before `name` runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        for target in targets:
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                candidate = ".".join(parts[:end])
                if candidate in known and candidate != name and \
                        not name.startswith(candidate + "."):
                    found.add(candidate)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_rooms_have_one_way_doors() -> None:
    crossings = sorted(f"{name} imports {other}" for name, others in graph().items()
                       for other in others
                       if other.split(".")[0] not in DOORS[name.split(".")[0]])
    assert crossings == []


def test_no_import_circles() -> None:
    found = cycles(graph())
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_sql_is_written_in_api() -> None:
    writers = []
    for name, path in modules().items():
        if not name.startswith("api"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "sqlalchemy":
                used = {alias.name for alias in node.names} & SQL_BUILDERS
                if used:
                    writers.append(f"{name}: {', '.join(sorted(used))}")
    assert writers == []


#: The one module that reads ``HPADVISOR_*`` (pydantic-settings, when a process starts), and
#: the command that writes it for the server processes it starts.
READS_ENVIRONMENT = {"worker.settings"}
WRITES_ENVIRONMENT = {"api.cli.serve"}
#: Hands the whole environment on to the processes it starts (three variables added), reading
#: none.
PASSES_ENVIRONMENT_ON = {"worker.pool"}


def environment_uses(tree: ast.AST) -> list[str]:
    """``os.environ`` and ``os.getenv`` as written in a module, with their lines."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "os" and node.attr in ("environ", "getenv")):
            found.append(f"line {node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                alias.name in ("environ", "getenv") for alias in node.names):
            found.append(f"line {node.lineno}: from os import")
    return found


def test_only_the_settings_read_the_environment() -> None:
    readers = [f"{name} {use}" for name, path in modules().items()
               if name not in READS_ENVIRONMENT | WRITES_ENVIRONMENT | PASSES_ENVIRONMENT_ON
               for use in environment_uses(ast.parse(path.read_text()))]
    assert readers == []
    pool = ast.parse(modules()["worker.pool"].read_text())
    uses = [node for node in ast.walk(pool)
            if isinstance(node, ast.Attribute) and node.attr == "environ"]
    copies = [node for node in ast.walk(pool)
              if isinstance(node, ast.Call) and ast.unparse(node) == "dict(os.environ)"]
    assert len(uses) == len(copies) == 1  # one whole copy, no variable read
    serve = ast.parse(modules()["api.cli.serve"].read_text())
    for node in ast.walk(serve):  # serve only writes it: `os.environ[...] = ...`
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            assert "environ" not in ast.unparse(node.value), ast.unparse(node)


def test_every_module_says_what_it_holds() -> None:
    missing = [name for name, path in modules().items()
               if path.stat().st_size and not ast.get_docstring(ast.parse(path.read_text()))
               and "migrations.versions" not in name]
    assert missing == []


def test_the_checker_sees_a_circle_and_a_crossing() -> None:
    """The checks above can fail: a circle hidden behind lazy imports is found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert environment_uses(ast.parse("import os\nX = os.environ.get('HPADVISOR_X')")) == [
        "line 2: os.environ"]
