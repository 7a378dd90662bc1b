"""Fixtures shared by every test folder. Helpers live in :mod:`tests.helpers`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from jupyter_rt.testing import Spawner
from tests.helpers import (
    Process,
    RedisServer,
    artifact_dir,
    free_port,
    require_binary,
    require_node_packages,
)

PLUGIN = "jupyter_rt.testing.plugin"

# Property tests: no per-example deadline (a busy 2-core CI machine makes timing flaky).
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

# Jupyter server fixtures (jp_serverapp, jp_fetch, jp_ws_fetch, ...) for tests/jupyter and others.
# tests.secret_scan: the run fails if a test token or cookie reaches any log line.
# jupyter_rt.testing.plugin (rt_server, rt_jupyter, ...) is loaded by its pytest11 entry point
# once the package is installed; from a checkout that is not (yet) installed, load it here.
pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.secret_scan"]
if not any(ep.value == PLUGIN for ep in entry_points(group="pytest11")):
    pytest_plugins.append(PLUGIN)


@pytest.fixture
def jp_asyncio_loop(_function_scoped_runner: Any) -> asyncio.AbstractEventLoop:
    """Run pytest-jupyter's server on the loop pytest-asyncio runs the test on.

    pytest-jupyter starts ``jp_serverapp`` on its own loop, while ``asyncio_mode = "auto"`` runs
    async tests on pytest-asyncio's: the server would never answer (``jp_fetch`` times out). Tests
    that use the jp_* fixtures must keep the default function loop scope.
    """
    loop: asyncio.AbstractEventLoop = _function_scoped_runner.get_loop()
    return loop


@pytest.fixture
def unused_port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/<test id>/``: screenshots and logs worth keeping after the run."""
    return artifact_dir(request.node.nodeid)


@pytest.fixture
def spawn(artifacts: Path) -> Iterator[Callable[..., Process]]:
    """Start subprocesses that are stopped (by PID, with their children) at teardown.

    ``proc = spawn(["node", "client.js"], name="client", cwd=NODE_DIR)``; logs go to the
    test's artifacts folder.
    """
    spawn = Spawner(artifacts, Process)
    yield spawn
    spawn.stop_all()


@pytest.fixture
def rt_spawn(spawn: Callable[..., Process]) -> Callable[..., Process]:
    """The plugin's ``rt_jupyter`` starts its server through ``spawn`` here: logs kept in the
    test's artifacts and scanned for the token."""
    return spawn


@pytest.fixture(scope="session")
def node_bin() -> str:
    """Path of ``node``; skips (fails under JUPYTER_RT_REQUIRE_ALL) when missing."""
    return require_binary("node")


@pytest.fixture(scope="session")
def node_dir() -> Path:
    """``tests/node`` with the official Socket.IO packages installed (else skip/fail)."""
    return require_node_packages("socket.io-client", "socket.io", "ws")


@pytest.fixture(scope="session")
def chromium_bin() -> str:
    """Path of a Chromium binary for Playwright's ``executable_path``."""
    return require_binary("chromium")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One ``redis-server`` for the session; use a unique channel prefix or db per test."""
    server = RedisServer(require_binary("redis-server")).start()
    yield server
    server.stop()
