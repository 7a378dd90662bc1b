"""Issue 8, the WebSocket takeover against a real ``jupyter server``: a peer that resets,
half-closes or stops at any byte of the upgrade request, the 101 response or its first frames
leaves no session registered and no error in the server's log; a failed upgrade probe leaves its
polling session working."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
import socketio

from jupyter_rt.testing import JupyterServer, WaitTimeout, wait_until
from tests.jupyter import raw

pytestmark = pytest.mark.timeout(90)

ATTEMPTS = 20
APPS = ("jupyter_rt.apps.hub:setup", "tests.jupyter.probe_app:setup")


@pytest.fixture
def rt_jupyter_options() -> dict[str, object]:
    return {"apps": APPS}


@pytest.fixture
def server(rt_jupyter: JupyterServer) -> JupyterServer:
    return rt_jupyter


@pytest.fixture
async def probe(server: JupyterServer) -> AsyncIterator[socketio.AsyncClient]:
    """A client of ``/probe``, which counts the server's Engine.IO sessions (its own too)."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        f"http://127.0.0.1:{server.port}?token={server.token}",
        socketio_path="/socket.io",
        namespaces=["/probe"],
        transports=["websocket"],
        wait_timeout=10,
    )
    yield sio
    await sio.disconnect()


async def sessions(probe: socketio.AsyncClient) -> int:
    return int(await probe.call("sessions", namespace="/probe", timeout=10))


async def settled_sessions(probe: socketio.AsyncClient, expected: int) -> int:
    """The session count once it is ``expected``, or whatever it is after 5 s."""
    count = -1

    async def settled() -> bool:
        nonlocal count
        count = await sessions(probe)
        return count == expected

    with contextlib.suppress(WaitTimeout):
        await wait_until(settled, 5, 0)
    return count


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def reset_mid_request(server: JupyterServer, sid: str | None) -> None:
    request = raw.websocket_upgrade(server, sid)
    with raw.connect(server) as sock:
        sock.sendall(request[: len(request) // 2])
        raw.reset(sock)


def reset_after_request(server: JupyterServer, sid: str | None) -> None:
    sock = raw.connect(server)
    sock.sendall(raw.websocket_upgrade(server, sid))
    raw.reset(sock)


def reset_with_first_frame(server: JupyterServer, sid: str | None) -> None:
    frame = raw.masked_text_frame("2probe" if sid else "40/hub,")
    sock = raw.connect(server)
    sock.sendall(raw.websocket_upgrade(server, sid) + frame[:3])
    raw.reset(sock)


def reset_after_101(server: JupyterServer, sid: str | None) -> None:
    sock = raw.connect(server)
    sock.sendall(raw.websocket_upgrade(server, sid))
    assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 101")
    raw.reset(sock)


def reset_after_first_frames(server: JupyterServer, sid: str | None) -> None:
    sock = raw.connect(server)
    sock.sendall(raw.websocket_upgrade(server, sid))
    read_until(sock, b"\r\n\r\n")
    sock.sendall(raw.masked_text_frame("2probe" if sid else "40/hub,"))
    read_until(sock, b"probe" if sid else b"40/hub,")
    raw.reset(sock)


def half_close_after_request(server: JupyterServer, sid: str | None) -> None:
    with raw.connect(server) as sock:
        sock.sendall(raw.websocket_upgrade(server, sid))
        sock.shutdown(socket.SHUT_WR)
        read_until(sock, b"never sent")  # up to the server's close


FAILURES = [
    reset_mid_request,
    reset_after_request,
    reset_with_first_frame,
    reset_after_101,
    reset_after_first_frames,
    half_close_after_request,
]


def assert_quiet_log(server: JupyterServer) -> None:
    log = server.process.output()
    assert "Traceback" not in log
    assert "Uncaught exception" not in log
    assert "AttributeError" not in log


async def test_a_failed_websocket_leaves_no_session(
    server: JupyterServer, probe: socketio.AsyncClient
) -> None:
    before = await sessions(probe)
    for failure in FAILURES:
        for _ in range(ATTEMPTS):
            failure(server, None)
        assert await settled_sessions(probe, before) == before, failure.__name__
        assert_quiet_log(server)


async def test_a_failed_upgrade_probe_leaves_its_polling_session_working(
    server: JupyterServer, probe: socketio.AsyncClient
) -> None:
    for failure in FAILURES:
        sid = raw.open_polling(server)
        before = await sessions(probe)
        for _ in range(ATTEMPTS // 4):
            failure(server, sid)
        assert await settled_sessions(probe, before) == before, failure.__name__
        response = raw.post(server, sid, b"40/hub,")
        assert (response.status, response.body) == (200, b"ok"), failure.__name__
        assert raw.poll(server, sid).body.startswith(b'40/hub,{"sid":'), failure.__name__
        assert_quiet_log(server)


@pytest.mark.xfail(
    reason="issue 8: a reconnecting WebSocket burst still reaches 70-90 ms", strict=False
)
async def test_a_burst_of_tiny_websocket_frames_does_not_stall_the_server(
    server: JupyterServer,
) -> None:
    from tests.jupyter.canary import Canary

    frames = raw.masked_text_frame("40/hub,") + raw.masked_text_frame("41") * 125_000  # 1 MB

    def attack() -> None:
        with raw.connect(server) as sock:
            sock.sendall(raw.websocket_upgrade(server))
            read_until(sock, b"\r\n\r\n")
            sock.sendall(frames)
            read_until(sock, b"40/hub,")

    async with Canary(server.url, server.token) as canary:
        worst, served = await canary.during(attack)
    assert served >= 3
    assert worst < 0.050
