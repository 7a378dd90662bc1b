"""The handler over real sockets with the app's hooks and engine.io's error answers:
``allow_request``, the headers hooks, the JSON error bodies, and the upgrade's NOOP on the
engine's clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_rt.clock import ManualClock
from jupyter_rt.engine import Handshake
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import ResponseHeaders
from jupyter_rt.testing import wait_until
from jupyter_rt.transports import EngineIOHandler
from tests.transports.test_handler import EchoServer, assert_refused, read, start, ws_open

pytestmark = pytest.mark.timeout(30)


async def serving(**options: Any) -> tuple[EchoServer, Any]:
    return await start(ping_interval=5, ping_timeout=5, **options)


# -- engine.io's error answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "query", "code", "message"),
    [
        ("GET", "transport=tobi", 0, "Transport unknown"),
        ("GET", "EIO=4&transport=polling&sid=test", 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("PUT", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("OPTIONS", "EIO=4&transport=polling", 2, "Bad handshake method"),
        ("GET", "EIO=4&transport=websocket", 3, "Bad request"),  # no Upgrade header
        ("GET", "EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("GET", "transport=polling", 5, "Unsupported protocol version"),
    ],
)
async def test_refusals_have_engine_io_bodies(method, query, code, message):
    server, stop = await serving()
    try:
        body = b"4x" if method in ("POST", "PUT") else None
        response = await server.fetch(f"{server.url}?{query}", method, body)
        assert_refused(response, 400, code, message)
        assert server.listener.opened == []
    finally:
        stop()


async def test_a_polling_request_for_a_websocket_session_is_a_bad_request():
    server, stop = await serving()
    try:
        ws = await ws_open(server)
        sid = json.loads(str(await read(ws))[1:])["sid"]
        assert_refused(await server.get(sid), 400, 3, "Bad request")
        assert_refused(await server.post(sid, "4x"), 400, 3, "Bad request")
        ws.close()
    finally:
        stop()


class RecordingHandler(EngineIOHandler):
    """Records each GET whose handler has returned."""

    ended: list[str] = []

    async def get(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().get(*args, **kwargs)
        finally:
            self.ended.append(self.request.uri or "")


async def test_a_get_cancelled_while_a_post_is_in_flight_ends():
    # The session ends with the GET; its handler must not wait for the POST (which would hold
    # an answer for that GET) nor for ever.
    server, stop = await start(RecordingHandler, ping_interval=5, ping_timeout=5)
    try:
        sid = await server.open_polling()
        path = server.polling_url(sid).split(str(server.port), 1)[1]
        _, get = await asyncio.open_connection("127.0.0.1", server.port)
        get.write(f"GET {path}&t=get HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await wait_until(lambda: server.session(sid).writable)
        _, post = await asyncio.open_connection("127.0.0.1", server.port)
        post.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n4a".encode()
        )
        await post.drain()
        await asyncio.sleep(0.05)  # the POST is in flight, its body not all there
        get.close()
        await wait_until(lambda: any("t=get" in uri for uri in RecordingHandler.ended))
        assert server.reasons(sid) == ["transport close"]
        post.close()
    finally:
        stop()


# -- allow_request ---------------------------------------------------------------------------------


def thou_shall_not_pass(request: Handshake) -> None:
    if request.query.get("pass") != "yes":
        raise ConnectionRefused("Thou shall not pass")


async def test_allow_request_refuses_a_polling_handshake_with_403():
    server, stop = await serving(allow_request=thou_shall_not_pass)
    try:
        assert_refused(await server.get(), 403, 4, "Thou shall not pass")
        assert server.listener.opened == []
        response = await server.fetch(server.polling_url(**{"pass": "yes"}))
        assert response.code == 200 and response.body.startswith(b"0{")
        assert len(server.listener.opened) == 1
    finally:
        stop()


async def test_allow_request_refuses_a_websocket_handshake_before_the_101():
    server, stop = await serving(allow_request=thou_shall_not_pass)
    try:
        with pytest.raises(HTTPClientError) as refused:
            await websocket_connect(server.ws_url())
        assert refused.value.code == 403
        assert server.listener.opened == []
        ws = await websocket_connect(server.ws_url() + "&pass=yes")
        assert str(await read(ws)).startswith("0{")
        ws.close()
    finally:
        stop()


async def test_allow_request_sees_handshakes_only():
    seen: list[dict[str, str]] = []

    def allow(request: Handshake) -> None:
        seen.append(dict(request.query))

    server, stop = await serving(allow_request=allow)
    try:
        sid = await server.open_polling()
        assert (await server.post(sid, "4hello")).code == 200
        assert (await server.get(sid)).body == b"4hello"
        ws = await ws_open(server, sid)  # an upgrade: the session is allowed already
        await ws.write_message("2probe")
        assert await read(ws) == "3probe"
        assert [q.get("sid") for q in seen] == [None]
        ws.close()
    finally:
        stop()


async def test_an_async_allow_request_delays_the_handshake():
    release = asyncio.Event()

    async def allow(request: Handshake) -> None:
        await release.wait()  # a database lookup, say

    server, stop = await serving(allow_request=allow)
    try:
        handshake = asyncio.ensure_future(server.get())
        await asyncio.sleep(0.05)
        assert not handshake.done() and server.listener.opened == []
        release.set()
        response = await handshake
        assert response.code == 200 and response.body.startswith(b"0{")
    finally:
        stop()


async def test_no_session_opens_for_a_client_that_left_during_allow_request():
    release = asyncio.Event()
    called = asyncio.Event()

    async def allow(request: Handshake) -> None:
        called.set()
        await release.wait()

    server, stop = await serving(allow_request=allow)
    try:
        client = AsyncHTTPClient(force_instance=True)
        with pytest.raises(HTTPClientError):  # gives up: its connection is closed
            await client.fetch(HTTPRequest(server.polling_url(), request_timeout=0.2))
        client.close()
        await called.wait()
        release.set()
        await asyncio.sleep(0.05)
        assert server.listener.opened == []
    finally:
        stop()


# -- headers hooks ---------------------------------------------------------------------------------


def set_cookie(headers: ResponseHeaders, request: Handshake) -> None:
    headers["Set-Cookie"] = ["io=1; Path=/; HttpOnly", f"t={request.query.get('t', '-')}"]


def served_by(headers: ResponseHeaders, request: Handshake) -> None:
    headers["X-Served-By"] = "node-a"
    headers["X-Sid"] = request.query.get("sid", "new")


async def test_headers_hooks_on_polling():
    server, stop = await serving(initial_headers=set_cookie, headers=served_by)
    try:
        opened = await server.fetch(server.polling_url(t="42"))
        assert opened.headers.get_list("Set-Cookie") == ["io=1; Path=/; HttpOnly", "t=42"]
        assert (opened.headers["X-Served-By"], opened.headers["X-Sid"]) == ("node-a", "new")
        sid = json.loads(opened.body.decode()[1:])["sid"]
        posted = await server.post(sid, "4x")
        polled = await server.get(sid)
        for response in (posted, polled):
            assert response.code == 200
            assert "Set-Cookie" not in response.headers  # the first response only
            assert (response.headers["X-Served-By"], response.headers["X-Sid"]) == ("node-a", sid)
        assert "X-Served-By" not in (await server.get("unknown")).headers  # not on refusals
    finally:
        stop()


async def test_headers_hooks_on_the_websocket_101():
    server, stop = await serving(initial_headers=set_cookie, headers=served_by)
    try:
        ws = await websocket_connect(server.ws_url())
        assert ws.headers.get_list("Set-Cookie") == ["io=1; Path=/; HttpOnly", "t=-"]
        assert ws.headers["X-Sid"] == "new"
        assert ws.headers["Upgrade"] == "websocket"  # the protocol's own are kept
        ws.close()
        sid = await server.open_polling()
        probe = await ws_open(server, sid)  # an upgrade: not a new session
        assert "Set-Cookie" not in probe.headers
        assert probe.headers["X-Sid"] == sid
        probe.close()
    finally:
        stop()


# -- the upgrade's NOOP, on the engine's clock ----------------------------------------------------


async def test_the_upgrade_noop_comes_100_ms_after_the_3probe_on_the_engine_clock():
    clock = ManualClock()
    server, stop = await serving(clock=clock)
    try:
        sid = await server.open_polling()
        ws = await ws_open(server, sid)
        pending = asyncio.ensure_future(server.get(sid))
        await wait_until(lambda: server.session(sid).writable)  # the GET waits
        await ws.write_message("2probe")
        assert await read(ws) == "3probe"
        clock.advance(0.099)
        await asyncio.sleep(0.05)
        assert not pending.done()
        server.session(sid).send(["first"])  # what comes meanwhile goes on polling
        response = await pending
        assert response.body == b"4first"
        pending = asyncio.ensure_future(server.get(sid))
        await wait_until(lambda: server.session(sid).writable)
        clock.advance(0.001)
        response = await pending
        assert (response.code, response.body) == (200, b"6")
        await ws.write_message("5")
        await wait_until(lambda: server.session(sid).transport == "websocket")
        ws.close()
    finally:
        stop()
