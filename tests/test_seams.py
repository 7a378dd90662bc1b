"""The seams inside the package stay seams: no private member of another module's objects,
and ``jupyter_rt.server``'s modules import each other one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_rt"

CLEAN = ["server", "client", "widgets", "apps", "protocol", "clock.py", "_tasks.py"]
"""Parts of the package already held to the rule (the rest is being cleaned up)."""


def _defined(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__slots__" for t in node.targets
        ):
            names.update(
                e.value
                for e in ast.walk(node.value)
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    return names


def private_reaches(path: Path, base: Path = PACKAGE.parent) -> list[str]:
    """``x._name`` in ``path`` where ``_name`` is defined nowhere in that module."""
    tree = ast.parse(path.read_text())
    own = _defined(tree)
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and node.attr not in own
        ):
            out.append(f"{path.relative_to(base)}:{node.lineno}: .{node.attr}")
    return out


@pytest.mark.parametrize("part", CLEAN)
def test_no_private_member_of_another_module(part: str) -> None:
    root = PACKAGE / part
    files = [root] if root.is_file() else sorted(root.rglob("*.py"))
    assert [hit for path in files for hit in private_reaches(path)] == []


def test_the_checker_sees_a_private_reach(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("class A:\n    _own = 1\n\n\ndef f(s, a):\n    return s._acks, a._own\n")
    assert private_reaches(sample, tmp_path) == ["sample.py:6: ._acks"]


def _runtime_imports(path: Path) -> set[str]:
    """The ``jupyter_rt.server.*`` modules ``path`` imports outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in tree.body:  # module level only: TYPE_CHECKING blocks are `if` statements
        module = node.module if isinstance(node, ast.ImportFrom) else None
        if module and module.startswith("jupyter_rt.server."):
            out.add(module.rsplit(".", 1)[1])
    return out


def test_server_modules_import_one_way() -> None:
    server = PACKAGE / "server"
    graph = {p.stem: _runtime_imports(p) for p in server.glob("*.py") if p.stem != "__init__"}
    order: list[str] = []
    while graph:
        leaves = sorted(name for name, deps in graph.items() if deps <= set(order))
        assert leaves, f"an import cycle among {sorted(graph)}"
        order.extend(leaves)
        for name in leaves:
            del graph[name]
    assert order[0] == "_util" and order[-1] == "server"
