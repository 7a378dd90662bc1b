"""``jupyter_rt.testing``: the wait helper, the servers, the pytest plugin and the README's
"Testing your app" example, run as a user's project would run it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.testing import (
    InProcessServer,
    JupyterServer,
    WaitTimeout,
    plugin,
    wait_until,
    wait_until_sync,
)
from tests.helpers import REPO

PLUGIN = "jupyter_rt.testing.plugin"


async def test_wait_until_returns_the_first_truthy_value() -> None:
    calls: list[int] = []

    def third() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) == 3 else None

    assert await wait_until(third, timeout=5) == 3

    async def ready() -> str:
        await asyncio.sleep(0)
        return "yes"

    assert await wait_until(ready) == "yes"


async def test_wait_until_fails_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"after 0.1 s waiting for the answer \(last value: 0\)"):
        await wait_until(lambda: 0, timeout=0.1, message="the answer")
    assert 0.1 <= time.monotonic() - started < 2
    with pytest.raises(AssertionError, match="state 7"):
        await wait_until(lambda: False, timeout=0, message=lambda: "state 7")
    with pytest.raises(TimeoutError):
        wait_until_sync(lambda: [], timeout=0.05)
    assert wait_until_sync(lambda: "ok") == "ok"


async def test_in_process_server_serves_clients_and_closes_them() -> None:
    def setup(io: jupyter_rt.Server) -> None:
        io.on("connection", lambda socket: socket.on("add", lambda a, b: a + b))

    async with InProcessServer(setup=setup, ping_interval=0.5) as server:
        assert server.url == f"http://127.0.0.1:{server.port}"
        client = await server.connect()
        assert await client.call("add", 2, 3, timeout=5) == 5
        await wait_until(lambda: len(server.io.sockets.sockets) == 1)
    assert not client.connected
    assert server.clients == []


async def test_rt_server_fixture(rt_server: InProcessServer) -> None:
    seen: list[Any] = []
    rt_server.io.on("connection", lambda socket: socket.on("note", seen.append))
    client = rt_server.client(reconnection=False)
    await rt_server.connect(client=client, auth={"who": "ada"})
    await client.emit("note", "hi")
    await wait_until(lambda: seen == ["hi"])
    assert rt_server.clients == [client]


def test_jupyter_server_command_line(tmp_path: Path) -> None:
    server = JupyterServer(
        tmp_path,
        apps=["a.b:setup", "c:setup"],
        traits={"RealtimeApp.redis_url": "redis://x", "LabApp.news_url": "", "X.flag": True},
        base_url="/user/ada/",
        command="lab",
    )
    args = server.argv[server.argv.index("lab") :]
    assert "--RealtimeApp.apps=a.b:setup" in args and "--RealtimeApp.apps=c:setup" in args
    assert "--RealtimeApp.redis_url=redis://x" in args and "--LabApp.news_url=" in args
    assert "--X.flag=True" in args and "--ServerApp.base_url=/user/ada/" in args
    assert f"--IdentityProvider.token={server.token}" in args
    assert server.url == f"http://127.0.0.1:{server.port}/user/ada/"
    assert server.path == "/user/ada/socket.io/"
    assert server.env["JUPYTER_RUNTIME_DIR"] == str(tmp_path / "runtime")
    assert server.token not in repr(server)
    assert server.log() == ""


def test_the_plugin_is_registered_by_its_entry_point() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    table = re.search(r"^\[project\.entry-points\.pytest11\]\n(.*?)^\[", pyproject, re.M | re.S)
    assert table is not None
    entries = [line for line in table.group(1).splitlines() if line and line[0] != "#"]
    assert entries == [f'jupyter_rt = "{PLUGIN}"']
    fixtures = {"rt_server", "rt_server_options", "rt_jupyter", "rt_jupyter_options", "rt_spawn"}
    assert fixtures <= set(vars(plugin))


def readme_block(marker: str) -> str:
    """The README's ```python block whose first line is ``marker``."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```python\n(.*?)```", readme, re.S):
        if block.startswith(marker):
            return str(block)
    raise AssertionError(f"no README block starts with {marker!r}")


@pytest.mark.jupyter
@pytest.mark.slow
def test_the_readme_testing_example_passes(tmp_path: Path) -> None:
    """The README's app and its tests, in a project of their own, pass under pytest."""
    package = tmp_path / "mypackage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "realtime.py").write_text(readme_block("# mypackage/realtime.py"))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_realtime.py").write_text(readme_block("# tests/test_realtime.py"))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    path = os.environ.get("PYTHONPATH", "")
    loaded = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        + ([] if loaded else ["-p", PLUGIN]),
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO), path])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "2 passed" in done.stdout, done.stdout + done.stderr
