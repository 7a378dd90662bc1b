"""The package's inner rules, checked on its source: what a reviewer would otherwise re-check."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_rt"

THIRD_PARTY_PRIVATES = {
    # The one home of Tornado's private attributes, itself tested against a real stream.
    "transports/tornado_internals.py": {"_read_buffer", "_read_buffer_size", "_write_buffer"},
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


def names_defined_in(tree: ast.AST) -> set[str]:
    """Every name a module gives a meaning to: functions, classes, attributes, slots, globals."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return names


def private_reach_ins(path: Path) -> list[str]:
    """``x._name`` uses in ``path`` whose ``_name`` is not defined in that module."""
    tree = ast.parse(path.read_text())
    own = names_defined_in(tree)
    allowed = THIRD_PARTY_PRIVATES.get(path.relative_to(PACKAGE).as_posix(), set())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name in own or name in allowed:
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: .{name}")
    return found


def test_no_module_uses_another_modules_private_members() -> None:
    found = [line for path in modules() for line in private_reach_ins(path)]
    assert found == [], "use a public method instead:\n" + "\n".join(found)


def test_no_module_is_over_600_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > 650
    }
    assert long == {}
