"""Finding the Jupyter server that hosts a kernel, and connecting to a real one."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import (
    ConnectError,
    ServerNotFound,
    connect,
    connect_async,
    find_server,
)
from jupyter_rt.client.discovery import choose_server
from tests.client.support import JupyterServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("JUPYTER_RT_URL", "JUPYTER_RT_TOKEN", "JPY_PARENT_PID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "empty-runtime"))


def test_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RT_URL", "http://env:1/")
    info = find_server("http://h:8888/base?token=abc")
    assert (info.url, info.token, info.base_url) == ("http://h:8888/base/", "abc", "/base/")
    assert info.origin == "http://h:8888" and info.socketio_path == "/base/socket.io/"
    assert find_server("http://h:8888", "t").token == "t"
    assert "abc" not in repr(info)


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RT_URL", "http://127.0.0.1:9999/user/a/")
    monkeypatch.setenv("JUPYTER_RT_TOKEN", "secret")
    info = find_server()
    assert info.source == "environment"
    assert (info.url, info.token, info.socketio_path) == (
        "http://127.0.0.1:9999/user/a/",
        "secret",
        "/user/a/socket.io/",
    )


def test_choose_server(tmp_path: Path) -> None:
    outer, inner = tmp_path / "a", tmp_path / "a" / "b"
    (inner / "c").mkdir(parents=True)
    servers = [
        {"url": "http://x:1/", "root_dir": str(outer), "pid": 11},
        {"url": "http://x:2/", "root_dir": str(inner), "pid": 22},
        {"url": "http://x:3/", "root_dir": str(tmp_path / "other"), "pid": 33},
    ]

    def pid(found: Any) -> int | None:
        return None if found is None else found["pid"]

    assert pid(choose_server(servers, inner / "c", None)) == 22  # the deepest root
    assert pid(choose_server(servers, outer, None)) == 11
    assert pid(choose_server(servers, inner, 33)) == 33  # the parent process wins
    assert choose_server(servers, tmp_path, None) is None
    assert pid(choose_server(servers[:1], tmp_path, None)) == 11  # the only one
    assert choose_server([], tmp_path, None) is None


def test_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(ServerNotFound, match="JUPYTER_RT_URL"):
        find_server(cwd=tmp_path)


@pytest.mark.jupyter
@pytest.mark.slow
async def test_a_real_jupyter_server(
    jupyter_server: JupyterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(jupyter_server.runtime_dir))
    sub = jupyter_server.root_dir / "deep" / "dir"
    sub.mkdir(parents=True)
    info = None
    for _ in range(100):  # the info file is written just after the port opens
        try:
            info = find_server(cwd=sub)
            break
        except ServerNotFound:
            await asyncio.sleep(0.1)
    assert info is not None and info.source == "running servers"
    assert info.url == jupyter_server.url and info.token == jupyter_server.token
    monkeypatch.chdir(sub)

    ticks: list[Any] = []
    tick = await connect_async("/tick", handlers={"tickEvent": ticks.append})
    try:
        deadline = time.monotonic() + 10
        while len(ticks) < 2:
            assert time.monotonic() < deadline, ticks
            await asyncio.sleep(0.05)
        assert ticks[:2] == [{"tick": 0}, {"tick": 1}]
        await tick.emit("tickReceivedEvent", ticks[1], namespace="/tick")
        await jupyter_server.process.await_output(
            re.compile(rf"Socket {re.escape(tick.sid or '')} got 1"), timeout=10
        )
    finally:
        await tick.disconnect()

    # The blocking client, through the environment variables.
    monkeypatch.setenv("JUPYTER_RT_URL", jupyter_server.url)
    monkeypatch.setenv("JUPYTER_RT_TOKEN", jupyter_server.token)
    hub = await asyncio.to_thread(connect, "/hub")
    try:
        joined = await asyncio.to_thread(hub.call, "join", "discovery", namespace="/hub")
        assert joined == {"ok": True, "room": "discovery"}
        rooms = await asyncio.to_thread(hub.call, "rooms", namespace="/hub")
        assert rooms["rooms"]["/hub"]["discovery"] == 1
    finally:
        await asyncio.to_thread(hub.close)

    with pytest.raises(ConnectError, match="403"):
        await connect_async("/tick", token="wrong-token")
    with pytest.raises(jupyter_rt.ConnectionRefused):
        await connect_async("/no-such-namespace")
