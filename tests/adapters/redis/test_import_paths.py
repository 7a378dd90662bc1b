"""Where the Redis adapter's names are imported from: the package, and the old deprecated paths."""

from __future__ import annotations

import importlib
import sys

import pytest

import jupyter_rt.adapters.redis as package
from jupyter_rt.adapters.redis import emitter, wire


def test_the_package_exports_the_adapter_the_factory_the_errors_and_the_emitters() -> None:
    for name in (
        "ClusterError",
        "ClusterTimeout",
        "DEFAULT_PREFIX",
        "Emitter",
        "RedisAdapter",
        "RedisAdapterFactory",
        "RedisUnavailable",
        "SyncEmitter",
    ):
        assert name in package.__all__
        assert getattr(package, name) is not None
    assert package.RedisAdapter.factory("redis://localhost:1/0").prefix == "socket.io"


@pytest.mark.parametrize(
    ("old", "new", "names"),
    [
        ("jupyter_rt.emitter", emitter, ["Emitter", "SyncEmitter"]),
        ("jupyter_rt.adapters.redis_wire", wire, wire.__all__),
    ],
)
def test_old_module_paths_warn_and_give_the_same_objects(
    old: str, new: object, names: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, old, raising=False)
    with pytest.warns(DeprecationWarning, match=old.replace(".", r"\.")):
        module = importlib.import_module(old)
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name) is getattr(new, name)
