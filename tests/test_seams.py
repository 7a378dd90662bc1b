"""The seams inside the package stay seams: no private member of another module's objects,
``jupyter_rt.server``'s modules import each other one way, and no module grows past ~600 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "jupyter_rt"

THIRD_PARTY_PRIVATES = {
    # The one home of Tornado's private attributes, itself tested against a real stream.
    "jupyter_rt/transports/tornado_internals.py": {
        "_read_buffer",
        "_read_buffer_size",
        "_write_buffer",
    },
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "labextension" not in p.parts)


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
            and node.attr not in THIRD_PARTY_PRIVATES.get(path.relative_to(base).as_posix(), ())
        ):
            out.append(f"{path.relative_to(base)}:{node.lineno}: .{node.attr}")
    return out


def test_no_private_member_of_another_module() -> None:
    found = [hit for path in modules() for hit in private_reaches(path)]
    assert found == [], "use (or add) a public method instead:\n" + "\n".join(found)


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


def test_no_module_is_over_650_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > 650
    }
    assert long == {}


def _package_imports(path: Path) -> set[str]:
    """Every ``jupyter_rt`` module ``path`` imports, at any depth of its code."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {name for name in out if name.startswith("jupyter_rt")}


def test_the_jupyter_side_of_kernel_hosting_never_imports_the_kernel_side() -> None:
    kernel_side = ("jupyter_rt.client", "jupyter_rt.kernel.runtime", "jupyter_rt.kernel.hosted")
    kernel_side += ("jupyter_rt.kernel.session", "jupyter_rt.kernel.output")
    for name in ("relay", "relay_namespace", "tunnel"):
        imported = _package_imports(PACKAGE / "kernel" / f"{name}.py")
        assert not {i for i in imported if i.startswith(kernel_side)}, (name, imported)
