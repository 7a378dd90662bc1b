"""Finding the Jupyter server that hosts a kernel, and connecting to a real one."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from tornado import httpclient, websocket

import jupyter_rt
from jupyter_rt.client import (
    ConnectError,
    ServerInfo,
    ServerNotFound,
    connect,
    connect_async,
    find_server,
)
from jupyter_rt.client.discovery import choose_server
from jupyter_rt.testing import JupyterServer, wait_until
from tests.helpers import start_jupyter_server


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
    rt_jupyter: JupyterServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(rt_jupyter.runtime_dir))
    sub = rt_jupyter.root_dir / "deep" / "dir"
    sub.mkdir(parents=True)

    def found() -> ServerInfo | None:
        try:
            return find_server(cwd=sub)
        except ServerNotFound:  # the info file is written just after the port opens
            return None

    info = await wait_until(found, 10, 0.1, "the server's info file")
    assert info.source == "running servers"
    assert info.url == rt_jupyter.url and info.token == rt_jupyter.token
    monkeypatch.chdir(sub)

    ticks: list[Any] = []
    tick = await connect_async("/tick", handlers={"tickEvent": ticks.append})
    try:
        await wait_until(lambda: len(ticks) >= 2, 10, 0.05, lambda: f"two ticks; {ticks}")
        assert ticks[:2] == [{"tick": 0}, {"tick": 1}]
        await tick.emit("tickReceivedEvent", ticks[1], namespace="/tick")
        await rt_jupyter.process.await_output(
            re.compile(rf"Socket {re.escape(tick.sid or '')} got 1"), timeout=10
        )
    finally:
        await tick.disconnect()

    # The blocking client, through the environment variables.
    monkeypatch.setenv("JUPYTER_RT_URL", rt_jupyter.url)
    monkeypatch.setenv("JUPYTER_RT_TOKEN", rt_jupyter.token)
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
    with pytest.raises(ConnectError, match="403"):  # a wrong token is not tried again
        await asyncio.wait_for(connect_async("/tick", token="wrong-token", retry=True), 5)
    with pytest.raises(jupyter_rt.ConnectionRefused):
        await connect_async("/no-such-namespace")


async def run_in_jupyter_kernel(server: JupyterServer, code: str, timeout: float = 30) -> str:
    """Start a kernel through the server's REST API, run ``code``, return its stdout."""
    headers = {"Authorization": f"token {server.token}"}
    http = httpclient.AsyncHTTPClient()
    response = await http.fetch(
        f"{server.url}api/kernels",
        method="POST",
        body=json.dumps({"name": "python3"}),
        headers=headers,
    )
    kernel_id = json.loads(response.body)["id"]
    request = httpclient.HTTPRequest(
        f"ws://127.0.0.1:{server.port}{server.base_url}api/kernels/{kernel_id}/channels",
        headers=headers,
    )
    ws = await websocket.websocket_connect(request)
    msg_id = uuid.uuid4().hex
    ws.write_message(
        json.dumps(
            {
                "channel": "shell",
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "buffers": [],
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
        )
    )
    out: list[str] = []

    async def collect() -> None:
        while True:
            raw = await ws.read_message()
            assert raw is not None, "kernel channel closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return

    try:
        await asyncio.wait_for(collect(), timeout)
    finally:
        ws.close()
        await http.fetch(f"{server.url}api/kernels/{kernel_id}", method="DELETE", headers=headers)
    return "".join(out)


@pytest.mark.jupyter
@pytest.mark.slow
async def test_discovery_from_a_kernel_jupyter_started(rt_jupyter: JupyterServer) -> None:
    """The real thing: a kernel launched by the server finds it with no arguments."""
    code = (
        "from jupyter_rt.client import connect, find_server\n"
        "print('source:', find_server().source)\n"
        "with connect('/hub') as hub:\n"
        "    print('joined:', hub.call('join', 'from-a-kernel', namespace='/hub'))\n"
    )
    out = await run_in_jupyter_kernel(rt_jupyter, code)
    assert "source: running servers" in out, out
    assert "joined: {'ok': True, 'room': 'from-a-kernel'}" in out, out


@pytest.mark.jupyter
@pytest.mark.slow
async def test_a_server_with_a_base_url(
    spawn: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_jupyter_server(spawn, tmp_path, base_url="/user/ada/")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.runtime_dir))
    info = find_server(cwd=server.root_dir)
    assert info.url == f"http://127.0.0.1:{server.port}/user/ada/"
    assert info.socketio_path == "/user/ada/socket.io/"
    client = await connect_async("/hub", url=f"{server.url}?token={server.token}")
    try:
        assert await client.call("join", "based") == {"ok": True, "room": "based"}
    finally:
        await client.disconnect()
