"""Issue 8, hostile polling clients against a real ``jupyter server``: no POST holds the loop
(a canary's echo stays under 50 ms), concurrent POSTs and binary bodies are refused and close
their session as in Node's engine.io, and any over-limit body closes its session."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from jupyter_rt.testing import JupyterServer
from tests.jupyter import raw
from tests.jupyter.canary import Canary

pytestmark = pytest.mark.timeout(90)

MAX_RTT = 0.050
MAX_PAYLOAD = 1_000_000


@pytest.fixture
def server(rt_jupyter: JupyterServer) -> JupyterServer:
    return rt_jupyter


async def test_a_body_of_500k_empty_messages_does_not_stall_the_server(
    server: JupyterServer,
) -> None:
    # The body: 1 MB of empty MESSAGE packets. The first one is a Socket.IO protocol
    # error, which closes the session and drops the rest of the body.
    body = b"4\x1e" * 499_999 + b"4"
    assert len(body) < MAX_PAYLOAD

    def attack() -> None:
        sid = raw.open_polling(server)
        assert raw.post(server, sid, body).status == 200
        assert raw.is_closed(server, sid)

    async with Canary(server.url, server.token) as canary:
        worst, served = await canary.during(attack)
    assert served >= 3
    assert worst < MAX_RTT


async def test_a_body_of_333k_valid_packets_is_handled_whole_without_stalling(
    server: JupyterServer,
) -> None:
    # Valid packets (DISCONNECT of a namespace the client is not in) all reach the Socket.IO
    # server; the last one connects /hub, whose answer is waiting as soon as the POST says ok.
    body = b"41\x1e" * 333_330 + b"40/hub,"
    assert len(body) < MAX_PAYLOAD

    def attack() -> None:
        sid = raw.open_polling(server)
        response = raw.post(server, sid, body)
        assert (response.status, response.body) == (200, b"ok")
        assert raw.poll(server, sid).body.startswith(b'40/hub,{"sid":')

    async with Canary(server.url, server.token) as canary:
        worst, served = await canary.during(attack)
    assert served >= 3
    assert worst < MAX_RTT


def test_a_second_concurrent_post_is_refused_and_closes_the_session(
    server: JupyterServer,
) -> None:
    sid = raw.open_polling(server)
    target = raw.engine_target(server, transport="polling", sid=sid)
    with raw.connect(server) as first:
        # The first POST's headers are in, its body is still coming.
        first.sendall(raw.request_head(server, "POST", target, {"Content-Length": "10"}) + b"4a")
        second = raw.post(server, sid, b"4b")
        assert second.status == 400
        assert raw.is_closed(server, sid)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain;charset=UTF-8", "text/plain; charset=utf-8", "text/plain"],
    ids=["none", "socket.io-client", "browser", "python-socketio"],
)
def test_text_bodies_are_accepted(server: JupyterServer, content_type: str | None) -> None:
    sid = raw.open_polling(server)
    target = raw.engine_target(server, transport="polling", sid=sid)
    headers = {"Content-Length": "7"} | ({"Content-Type": content_type} if content_type else {})
    with raw.connect(server) as sock:
        sock.sendall(raw.request_head(server, "POST", target, headers) + b"40/hub,")
        response = raw.read_response(sock)
    assert (response.status, response.body) == (200, b"ok")
    assert raw.poll(server, sid).body.startswith(b'40/hub,{"sid":')


def test_a_binary_body_is_refused_and_closes_the_session(server: JupyterServer) -> None:
    sid = raw.open_polling(server)
    response = raw.post(server, sid, b"40/hub,", {"Content-Type": "application/octet-stream"})
    assert response.status == 400
    assert raw.is_closed(server, sid)


def test_a_chunked_body_over_the_limit_closes_the_session(server: JupyterServer) -> None:
    sid = raw.open_polling(server)
    target = raw.engine_target(server, transport="polling", sid=sid)
    head = raw.request_head(server, "POST", target, {"Transfer-Encoding": "chunked"})
    chunk = b"4" * 65536
    with raw.connect(server) as sock:
        sock.sendall(head)
        try:
            for _ in range(3 * MAX_PAYLOAD // len(chunk)):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
            status = raw.read_response(sock).status
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            status = None  # cut off by the server
    assert status in (None, 400, 413)
    assert raw.is_closed(server, sid)


def test_a_content_length_over_the_limit_closes_the_session(server: JupyterServer) -> None:
    sid = raw.open_polling(server)
    target = raw.engine_target(server, transport="polling", sid=sid)
    head = raw.request_head(server, "POST", target, {"Content-Length": str(MAX_PAYLOAD + 1)})
    with raw.connect(server) as sock:
        sock.sendall(head)
        assert raw.read_response(sock).status == 413
    assert raw.is_closed(server, sid)


async def test_python_socketio_on_polling_still_works(server: JupyterServer) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        f"http://127.0.0.1:{server.port}?token={server.token}",
        socketio_path="/socket.io",
        namespaces=["/hub"],
        transports=["polling"],
        wait_timeout=10,
    )
    try:
        replies = await asyncio.gather(
            *(sio.call("join", f"room{i}", namespace="/hub", timeout=10) for i in range(20))
        )
        assert all(r["ok"] for r in replies)
    finally:
        await sio.disconnect()
