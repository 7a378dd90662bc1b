"""The ``jupyter_rt`` pytest plugin: fixtures for testing realtime apps.

Installed with the package (a ``pytest11`` entry point), so every fixture here is available in
a project that has jupyter_rt installed; ``-p no:jupyter_rt`` turns it off. Async fixtures need
an asyncio plugin (pytest-asyncio, or anyio).

- ``rt_server``: an :class:`~jupyter_rt.testing.InProcessServer` in the test's loop; its
  ``Server`` options come from the ``rt_server_options`` fixture (override it to change them).
- ``rt_jupyter``: a real ``jupyter server`` subprocess with the extension
  (:class:`~jupyter_rt.testing.JupyterServer`), configured by ``rt_jupyter_options``.
- ``rt_clock``: a :class:`~jupyter_rt.clock.ManualClock`. With ``rt_server_options``
  returning ``{"clock": rt_clock}``, the server's timers (ack timeouts, the connect timeout,
  heartbeats) fire on ``rt_clock.advance(seconds)``, with no waiting.
- ``rt_spawn``: starts subprocesses stopped (by PID, with their children) at teardown; the
  Jupyter fixture starts its server through it, so a project can override it to keep logs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

try:  # pytest-asyncio's strict mode runs only the async fixtures it marked itself
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - anyio, or another plugin, runs them
    async_fixture = pytest.fixture  # type: ignore[assignment]
from jupyter_rt.clock import ManualClock
from jupyter_rt.testing._inprocess import InProcessServer
from jupyter_rt.testing._jupyter import JupyterServer
from jupyter_rt.testing._process import Spawner

__all__ = [
    "rt_clock",
    "rt_jupyter",
    "rt_jupyter_options",
    "rt_server",
    "rt_server_options",
    "rt_spawn",
]


# -- in-process server ------------------------------------------------------------------------


@pytest.fixture
def rt_clock() -> ManualClock:
    """A clock that moves only on ``rt_clock.advance(seconds)``; give it to the server as
    ``Server(clock=rt_clock)`` (or in ``rt_server_options``)."""
    return ManualClock()


@pytest.fixture
def rt_server_options() -> dict[str, Any]:
    """Keyword arguments for the ``rt_server``'s ``jupyter_rt.Server`` (none by default)."""
    return {}


@async_fixture
async def rt_server(rt_server_options: dict[str, Any]) -> AsyncIterator[InProcessServer]:
    """A started :class:`~jupyter_rt.testing.InProcessServer`; its clients are closed after."""
    server = InProcessServer(**rt_server_options).start()
    try:
        yield server
    finally:
        await server.close()


# -- subprocesses and the real Jupyter server -------------------------------------------------


@pytest.fixture
def rt_spawn(tmp_path: Path) -> Iterator[Any]:
    """``rt_spawn(argv, name=..., env=..., cwd=...)`` starts a :class:`Process` (log in
    ``tmp_path``) and returns it; every one is stopped at teardown."""
    spawn = Spawner(tmp_path)
    yield spawn
    spawn.stop_all()


@pytest.fixture
def rt_jupyter_options() -> Mapping[str, Any]:
    """Keyword arguments for ``rt_jupyter``'s :class:`~jupyter_rt.testing.JupyterServer`:
    ``apps``, ``traits``, ``base_url``, ``args``, ``env`` ... (none by default)."""
    return {}


@pytest.fixture
def rt_jupyter(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    rt_spawn: Any,
    rt_jupyter_options: Mapping[str, Any],
) -> Iterator[JupyterServer]:
    """A running ``jupyter server`` with jupyter_rt (its folders under ``tmp_path``), stopped
    at teardown; ``.url``, ``.token``, ``.base_url``, ``.log()``.

    The project's root folder (pytest's rootdir) comes first on the server's ``PYTHONPATH``,
    so it imports the apps under test as the tests do. ``rt_jupyter_options`` may also hold
    ``timeout`` (seconds to wait for the server, 60)."""
    options = dict(rt_jupyter_options)
    timeout = float(options.pop("timeout", 60.0))
    options.setdefault("spawn", rt_spawn)
    env = dict(options.pop("env", None) or {})
    if "PYTHONPATH" not in env:
        inherited = os.environ.get("PYTHONPATH")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(request.config.rootpath), inherited]))
    options["env"] = env
    server = JupyterServer(tmp_path, **options)
    try:
        yield server.start(timeout)
    finally:
        server.stop()
