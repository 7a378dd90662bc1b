"""The project skeleton: packaging metadata, shared test helpers, external tools."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_rt.testing import wait_until_sync
from tests.helpers import (
    CHROMIUM_ARGS,
    REPO,
    Process,
    RedisServer,
    find_binary,
    free_port,
    node_env,
    require_binary,
    wait_for_port,
)


def test_server_extension_is_enabled_by_installed_config() -> None:
    config = json.loads((REPO / "jupyter-config/server-config/jupyter_rt.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"jupyter_rt": True}}}
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"jupyter-config/server-config" = "etc/jupyter/jupyter_server_config.d"' in pyproject
    assert '"jupyter_rt/labextension" = "share/jupyter/labextensions/jupyter-rt"' in pyproject


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_process_output_and_stop() -> None:
    code = "import time; print('ready', flush=True); time.sleep(60)"
    with Process([sys.executable, "-c", code], name="sleeper") as proc:
        assert proc.wait_for_output(r"ready", timeout=10).group(0) == "ready"
        was_running = proc.running
    assert was_running
    assert proc.returncode == -15  # SIGTERM


def test_process_reports_early_exit() -> None:
    proc = Process([sys.executable, "-c", "print('bye')"], name="quitter").start()
    with pytest.raises(RuntimeError, match="exited with 0"):
        proc.wait_for_output(r"never printed", timeout=10)
    proc.stop()


async def test_process_await_output_and_port(unused_port: int) -> None:
    code = (
        "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); "
        "s.listen(); print('listening', flush=True); s.accept()"
    )
    with Process([sys.executable, "-c", code, str(unused_port)], name="listener") as proc:
        await proc.await_output("listening", timeout=10)
        wait_for_port(unused_port, timeout=10)


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "zombie" in status.lower()


def test_spawn_fixture_stops_children(spawn, artifacts: Path) -> None:
    proc = spawn(["sh", "-c", "sleep 60 & echo child $!; wait"], name="shell")
    child = int(proc.wait_for_output(r"child (\d+)", timeout=10).group(1))
    proc.stop()
    wait_until_sync(lambda: _gone(child), 10, 0.05, f"child {child} to be gone")
    assert proc.log_path.parent == artifacts


def test_require_binary_fails_under_require_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RT_REQUIRE_ALL", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_ALL"):
        require_binary("no-such-binary-jupyter-rt")
    monkeypatch.setenv("JUPYTER_RT_REQUIRE_ALL", "0")
    with pytest.raises(pytest.skip.Exception):
        require_binary("no-such-binary-jupyter-rt")
    assert find_binary("sh") is not None


@pytest.mark.redis
def test_redis_server_answers_ping(redis_server: RedisServer) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping() is True
    finally:
        client.close()


@pytest.mark.node
def test_node_resolves_official_client(node_bin: str, node_dir: Path) -> None:
    script = "console.log(require('socket.io-client/package.json').version)"
    out = subprocess.run(
        [node_bin, "-e", script],
        env=node_env(),
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert out.stdout.startswith("4.8.")


@pytest.mark.browser
def test_chromium_renders_a_page(chromium_bin: str, artifacts: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_bin, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.set_content("<h1 id=t>jupyter_rt</h1>")
            assert page.inner_text("#t") == "jupyter_rt"
            page.screenshot(path=str(artifacts / "page.png"))
        finally:
            browser.close()


@pytest.mark.jupyter
async def test_jupyter_fixtures_share_the_test_loop(jp_serverapp, jp_fetch) -> None:
    assert jp_serverapp.io_loop.asyncio_loop is asyncio.get_running_loop()
    response = await jp_fetch("api", "status")
    assert response.code == 200


def test_the_version_has_one_source() -> None:
    # labextension/package.json holds it; the Python package, its metadata and the widgets'
    # npm module range all follow.
    from importlib.metadata import version

    import jupyter_rt
    from jupyter_rt.widgets._frontend import MODULE_VERSION

    npm = json.loads((REPO / "labextension" / "package.json").read_text())["version"]
    assert jupyter_rt.__version__ == version("jupyter_rt") == npm
    assert npm == MODULE_VERSION.lstrip("^")
    for path in ("pyproject.toml", "jupyter_rt/__init__.py", "jupyter_rt/widgets/_frontend.py"):
        assert npm not in (REPO / path).read_text(), f"{path} repeats the version"
