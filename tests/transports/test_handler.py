"""The transports over real sockets: an Engine.IO echo endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.websocket import WebSocketClientConnection, websocket_connect

from jupyter_rt.engine import EngineSession
from jupyter_rt.testing import wait_until
from jupyter_rt.transports import EngineDriver, EngineIOHandler
from tests.engine.echo_server import EchoListener, make_app
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(30)


@dataclass
class EchoServer:
    port: int
    driver: EngineDriver
    listener: EchoListener

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/engine.io/"

    def polling_url(self, sid: str | None = None, **extra: str) -> str:
        query = {"EIO": "4", "transport": "polling", **({"sid": sid} if sid else {}), **extra}
        return self.url + "?" + "&".join(f"{k}={v}" for k, v in query.items())

    def ws_url(self, sid: str | None = None) -> str:
        url = f"ws://127.0.0.1:{self.port}/engine.io/?EIO=4&transport=websocket"
        return url + (f"&sid={sid}" if sid else "")

    async def fetch(
        self, url: str, method: str = "GET", body: bytes | str | None = None, **kwargs: Any
    ) -> HTTPResponse:
        if body is None and method in ("POST", "PUT", "PATCH") and "body_producer" not in kwargs:
            body = b""
        request = HTTPRequest(
            url,
            method=method,
            body=body,
            allow_nonstandard_methods=True,
            request_timeout=10,
            **kwargs,
        )
        return await AsyncHTTPClient().fetch(request, raise_error=False)

    async def get(self, sid: str | None = None, **kwargs: Any) -> HTTPResponse:
        return await self.fetch(self.polling_url(sid), **kwargs)

    async def post(self, sid: str, body: bytes | str, **kwargs: Any) -> HTTPResponse:
        return await self.fetch(self.polling_url(sid), "POST", body, **kwargs)

    async def open_polling(self, **kwargs: Any) -> str:
        response = await self.get(**kwargs)
        assert response.code == 200
        text = response.body.decode()
        assert text.startswith("0")
        return str(json.loads(text[1:])["sid"])

    def session(self, sid: str) -> EngineSession:
        return self.driver.engine.sessions[sid]

    def reasons(self, sid: str) -> list[str]:
        return [r for s, r in self.listener.closed if s == sid]


async def start(
    handler_class: type[EngineIOHandler] = EngineIOHandler, **options: Any
) -> tuple[EchoServer, Callable[[], None]]:
    from jupyter_rt.transports import mount_engine
    from tests.engine.echo_server import SUITE_OPTIONS

    if handler_class is EngineIOHandler:
        app, driver, listener = make_app(**options)
    else:
        from tornado import web

        listener = EchoListener()
        app = web.Application()
        driver = mount_engine(
            app,
            listener,
            "/engine.io/",
            handler_class=handler_class,
            **{**SUITE_OPTIONS, **options},
        )
    port = free_port()
    server = app.listen(port, "127.0.0.1")

    def stop() -> None:
        driver.shutdown()
        server.stop()

    return EchoServer(port, driver, listener), stop


def assert_refused(response: HTTPResponse, status: int, code: int, message: str) -> None:
    """``response`` is engine.io's error answer: ``status`` and its JSON body."""
    assert response.code == status, (response.code, response.body)
    assert response.headers["Content-Type"] == "application/json"
    assert (
        response.body
        == json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
    )


@pytest.fixture
async def echo() -> AsyncIterator[EchoServer]:
    server, stop = await start(ping_interval=5, ping_timeout=5)
    yield server
    stop()


@pytest.fixture
async def small() -> AsyncIterator[EchoServer]:
    """An echo server that accepts at most 1000-byte payloads."""
    server, stop = await start(ping_interval=5, ping_timeout=5, max_payload=1000)
    yield server
    stop()


async def read(ws: WebSocketClientConnection, timeout: float = 5.0) -> str | bytes | None:
    return await asyncio.wait_for(ws.read_message(), timeout)


async def ws_open(server: EchoServer, sid: str | None = None) -> WebSocketClientConnection:
    return await websocket_connect(server.ws_url(sid))


# -- handshake and HTTP errors ---------------------------------------------------------------------


async def test_polling_handshake(echo):
    response = await echo.get()
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    value = json.loads(response.body.decode()[1:])
    assert set(value) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert value["upgrades"] == ["websocket"]
    assert (value["pingInterval"], value["pingTimeout"]) == (5000, 5000)
    assert echo.listener.opened[0].sid == value["sid"]


async def test_suite_timings_in_the_handshake():
    server, stop = await start()
    try:
        value = json.loads((await server.get()).body.decode()[1:])
        assert (value["pingInterval"], value["pingTimeout"], value["maxPayload"]) == (
            300,
            200,
            1_000_000,
        )
    finally:
        stop()


@pytest.mark.parametrize(
    "query",
    [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
        "EIO=4",
        "EIO=4&transport=abc",
        "EIO=4&transport=polling&sid=unknown",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_bad_requests_get_400(echo, query, method):
    response = await echo.fetch(echo.url + "?" + query, method, b"4x" if method == "POST" else None)
    assert response.code == 400
    assert echo.listener.opened == []


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_unknown_methods_get_400(echo, method):
    assert (await echo.fetch(echo.polling_url(), method)).code == 400
    sid = await echo.open_polling()
    assert (await echo.fetch(echo.polling_url(sid), method, b"4x")).code == 400
    assert echo.listener.messages == []


async def test_post_without_sid_is_400(echo):
    assert (await echo.fetch(echo.polling_url(), "POST", b"4hello")).code == 400
    assert echo.listener.opened == []


@pytest.mark.parametrize(
    "query",
    [
        "transport=websocket",
        "EIO=abc&transport=websocket",
        "EIO=4",
        "EIO=4&transport=abc",
        "EIO=4&transport=websocket&sid=unknown",
    ],
)
async def test_bad_websocket_requests_are_refused(echo, query):
    with pytest.raises(HTTPClientError) as info:
        await websocket_connect(f"ws://127.0.0.1:{echo.port}/engine.io/?{query}")
    assert info.value.code == 400
    assert echo.listener.opened == []


# -- polling ---------------------------------------------------------------------------------------


async def test_polling_echo_text_and_binary(echo):
    sid = await echo.open_polling()
    response = await echo.post(sid, "4hello\x1ebAQIDBA==")
    assert response.code == 200 and response.body == b"ok"
    poll = await echo.get(sid)
    assert poll.body.decode() == "4hello\x1ebAQIDBA=="
    assert echo.listener.messages == [(sid, "hello"), (sid, b"\x01\x02\x03\x04")]


async def test_long_poll_is_answered_when_a_message_arrives(echo):
    sid = await echo.open_polling()
    pending = asyncio.ensure_future(echo.get(sid))
    await wait_until(lambda: echo.session(sid)._wake_poll is not None)
    assert not pending.done()
    echo.session(sid).send(["pushed"])
    assert (await pending).body == b"4pushed"


async def test_many_packets_in_one_post_and_16_per_get(echo):
    sid = await echo.open_polling()
    body = "\x1e".join(f"4m{i}" for i in range(40))
    assert (await echo.post(sid, body)).code == 200
    counts = []
    received: list[str] = []
    while len(received) < 40:
        packets = (await echo.get(sid)).body.decode().split("\x1e")
        counts.append(len(packets))
        received += packets
    assert counts == [16, 16, 8]
    assert received == [f"4m{i}" for i in range(40)]


async def test_invalid_packet_closes_the_session(echo):
    sid = await echo.open_polling()
    assert (await echo.post(sid, "abc")).code == 400
    assert echo.reasons(sid) == ["parse error"]
    assert (await echo.get(sid)).code == 400


async def test_duplicate_get_closes_the_session(echo):
    sid = await echo.open_polling()
    first = asyncio.ensure_future(echo.get(sid))
    await wait_until(lambda: echo.session(sid)._wake_poll is not None)
    second = await echo.get(sid)
    assert second.code == 400
    assert (await first).body == b"1"
    assert (await echo.get(sid)).code == 400
    assert echo.reasons(sid) == ["transport error"]


async def test_client_close_ends_the_pending_get_with_noop(echo):
    sid = await echo.open_polling()
    pending = asyncio.ensure_future(echo.get(sid))
    await wait_until(lambda: echo.session(sid)._wake_poll is not None)
    assert (await echo.post(sid, "1")).code == 200
    response = await pending
    assert (response.code, response.body) == (200, b"6")
    assert (await echo.get(sid)).code == 400
    assert echo.reasons(sid) == ["transport close"]


async def test_server_close_reaches_a_polling_client(echo):
    sid = await echo.open_polling()
    echo.session(sid).close()
    response = await echo.get(sid)
    assert (response.code, response.body) == (200, b"1")
    assert (await echo.get(sid)).code == 400


async def test_cancelled_get_ends_the_session(echo):
    sid = await echo.open_polling()
    _, writer = await asyncio.open_connection("127.0.0.1", echo.port)
    path = echo.polling_url(sid).split(str(echo.port), 1)[1]
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    await wait_until(lambda: echo.session(sid)._wake_poll is not None)
    writer.close()
    await wait_until(lambda: echo.reasons(sid))
    assert echo.reasons(sid) == ["transport close"]
    assert (await echo.get(sid)).code == 400


async def test_oversized_post_is_413_and_closes_only_that_session(small):
    sid = await small.open_polling()
    other = await small.open_polling()
    response = await small.post(sid, "4" + "x" * 1000)
    assert (response.code, response.body) == (413, b"")  # an empty body, as from Node
    assert small.reasons(sid) == ["parse error"]
    assert small.listener.messages == []
    # The sid is unknown at once: no CLOSE packet, which the client would take for a clean
    # close before it sees the 413.
    assert_refused(await small.get(sid), 400, 1, "Session ID unknown")
    # Everyone else is still served.
    assert (await small.post(other, "4" + "y" * 999)).code == 200
    assert (await small.get(other)).body == b"4" + b"y" * 999
    assert small.reasons(other) == []


async def test_a_pending_get_is_answered_unknown_after_the_post_that_broke_a_limit(small):
    sid = await small.open_polling()
    answered: list[str] = []
    pending = asyncio.ensure_future(small.get(sid))
    pending.add_done_callback(lambda _: answered.append("GET"))
    await wait_until(lambda: small.session(sid).writable)  # the GET waits in the server
    posted = asyncio.ensure_future(small.post(sid, "4" + "x" * 1000))
    posted.add_done_callback(lambda _: answered.append("POST"))
    assert (await posted).code == 413
    assert_refused(await pending, 400, 1, "Session ID unknown")
    assert answered == ["POST", "GET"]  # so the client reports the 413, the error that closed it


async def test_a_pending_get_is_answered_unknown_after_an_invalid_post(echo):
    sid = await echo.open_polling()
    pending = asyncio.ensure_future(echo.get(sid))
    await wait_until(lambda: echo.session(sid).writable)
    response = await echo.post(sid, "abc")
    assert response.code == 400
    assert json.loads(response.body)["code"] == 3
    assert_refused(await pending, 400, 1, "Session ID unknown")  # not a CLOSE packet
    assert echo.reasons(sid) == ["parse error"]


async def test_oversized_chunked_post_is_413(small):
    sid = await small.open_polling()

    async def producer(write):
        for _ in range(20):
            await write(b"4" + b"z" * 99)

    response = await small.fetch(small.polling_url(sid), "POST", body_producer=producer)
    assert response.code == 413
    assert small.reasons(sid) == ["parse error"]


@pytest.mark.parametrize("size", [70_000, 5_000_000])  # past the connection's cut-off
async def test_huge_post_is_413_before_it_is_read(small, size):
    sid = await small.open_polling()
    other = await small.open_polling()
    response = await small.post(sid, b"4" + b"x" * size)
    assert response.code == 413
    assert small.reasons(sid) == ["parse error"]
    assert small.listener.messages == []
    assert (await small.post(other, "4ok")).code == 200
    assert (await small.get(other)).body == b"4ok"


async def test_polling_ping_pong_and_timeout():
    server, stop = await start(ping_interval=0.3, ping_timeout=0.2)
    try:
        sid = await server.open_polling()
        for _ in range(3):
            response = await server.get(sid)
            assert response.body == b"2"
            assert (await server.post(sid, "3")).code == 200
        await asyncio.sleep(0.6)
        assert server.reasons(sid) == ["ping timeout"]
        assert (await server.get(sid)).code == 400
    finally:
        stop()


async def test_expired_session_is_refused_even_if_the_timer_is_late():
    server, stop = await start(ping_interval=0.3, ping_timeout=0.2)
    try:
        sid = await server.open_polling()
        assert (await server.get(sid)).body == b"2"  # sent on time, never answered
        driver = server.driver
        assert driver._timer is not None
        driver._timer.cancel()  # a loop so busy that the timeout timer has not fired yet
        driver._timer, driver._timer_at = None, float("-inf")
        await asyncio.sleep(0.25)
        assert server.reasons(sid) == []
        assert (await server.get(sid)).code == 400
        assert server.reasons(sid) == ["ping timeout"]
    finally:
        stop()


async def test_lone_surrogates_from_the_server_do_not_break_the_transport(echo):
    # UTF-8 cannot carry them: they go out as U+FFFD (as from Node) and nothing else is lost.
    sid = await echo.open_polling()
    echo.session(sid).send(["a\ud800b", "after"])
    response = await echo.get(sid)
    assert response.code == 200
    assert response.body.decode() == "4a\ufffdb\x1e4after"
    ws = await ws_open(echo)
    ws_sid = json.loads((await read(ws))[1:])["sid"]
    echo.session(ws_sid).send(["x\udc00", "after"])
    assert await read(ws) == "4x\ufffd"
    assert await read(ws) == "4after"


# -- WebSocket -------------------------------------------------------------------------------------


async def test_websocket_echo_text_and_binary(echo):
    ws = await ws_open(echo)
    handshake = await read(ws)
    assert isinstance(handshake, str)
    assert json.loads(handshake[1:])["upgrades"] == []
    await ws.write_message("4hello")
    assert await read(ws) == "4hello"
    await ws.write_message(b"\x01\x02\x03\x04", binary=True)
    assert await read(ws) == b"\x01\x02\x03\x04"
    ws.close()


async def test_websocket_invalid_packet_closes(echo):
    ws = await ws_open(echo)
    sid = json.loads((await read(ws))[1:])["sid"]
    await ws.write_message("abc")
    assert await read(ws) == "1"
    assert await read(ws) is None
    assert echo.reasons(sid) == ["parse error"]


async def test_websocket_client_close(echo):
    ws = await ws_open(echo)
    sid = json.loads((await read(ws))[1:])["sid"]
    await ws.write_message("1")
    assert await read(ws) is None
    assert echo.reasons(sid) == ["transport close"]


async def test_websocket_peer_disconnect(echo):
    ws = await ws_open(echo)
    sid = json.loads((await read(ws))[1:])["sid"]
    ws.close()
    await wait_until(lambda: echo.reasons(sid))
    assert echo.reasons(sid) == ["transport close"]


async def test_websocket_message_over_max_payload_closes(small):
    ws = await ws_open(small)
    sid = json.loads((await read(ws))[1:])["sid"]
    await ws.write_message("4" + "x" * 2000)
    assert await read(ws) is None
    await wait_until(lambda: small.reasons(sid))
    assert small.listener.messages == []


async def test_websocket_ping_pong_and_timeout():
    server, stop = await start(ping_interval=0.3, ping_timeout=0.2)
    try:
        ws = await ws_open(server)
        sid = json.loads((await read(ws))[1:])["sid"]
        for _ in range(3):
            assert await read(ws) == "2"
            await ws.write_message("3")
        assert await read(ws) == "2"
        assert await read(ws) is None  # no pong: dropped after pingTimeout, without "1"
        assert server.reasons(sid) == ["ping timeout"]
    finally:
        stop()


async def test_server_shutdown_drops_websockets_without_close_packet(echo):
    ws = await ws_open(echo)
    sid = json.loads((await read(ws))[1:])["sid"]
    echo.driver.shutdown()
    assert await read(ws) is None
    assert echo.reasons(sid) == ["server shutting down"]


# -- upgrade ---------------------------------------------------------------------------------------


async def test_upgrade_end_to_end(echo):
    sid = await echo.open_polling()
    assert (await echo.post(sid, "4before")).code == 200
    ws = await ws_open(echo, sid)
    await ws.write_message("2probe")
    assert await read(ws) == "3probe"
    # The GETs of an upgrade take what waits, as on polling; with nothing left, a NOOP ends
    # them (from 100 ms after the 3probe), and the client completes the upgrade.
    response = await echo.get(sid)
    assert (response.code, response.body) == (200, b"4before")
    response = await echo.get(sid)
    assert (response.code, response.body) == (200, b"6")
    echo.session(sid).send(["queued during upgrade"])
    await ws.write_message("5")
    assert await read(ws) == "4queued during upgrade"
    assert echo.session(sid).transport == "websocket"
    await ws.write_message("4hello")
    assert await read(ws) == "4hello"
    assert (await echo.get(sid)).code == 400
    assert (await echo.post(sid, "4no")).code == 400
    other = await ws_open(echo, sid)
    assert await read(other) is None
    await ws.write_message(b"\x00\x01", binary=True)
    assert await read(ws) == b"\x00\x01"
    assert echo.reasons(sid) == []
    ws.close()
    await wait_until(lambda: echo.reasons(sid))
    assert echo.reasons(sid) == ["transport close"]


async def test_upgrade_probe_closed_keeps_polling(echo):
    sid = await echo.open_polling()
    ws = await ws_open(echo, sid)
    await ws.write_message("2probe")
    assert await read(ws) == "3probe"
    ws.close()
    await wait_until(lambda: echo.session(sid)._probe is None)
    assert (await echo.post(sid, "4still polling")).code == 200
    assert (await echo.get(sid)).body == b"4still polling"
    assert echo.reasons(sid) == []


# -- credentials -----------------------------------------------------------------------------------


class HeaderCredentialHandler(EngineIOHandler):
    def session_credential(self) -> str | None:
        return self.request.headers.get("X-User")


async def test_sessions_are_bound_to_their_credential():
    server, stop = await start(HeaderCredentialHandler, ping_interval=5, ping_timeout=5)
    try:
        sid = await server.open_polling(headers={"X-User": "alice"})
        assert (await server.get(sid, headers={"X-User": "bob"})).code == 403
        assert (await server.get(sid)).code == 403
        assert (await server.post(sid, "4x", headers={"X-User": "bob"})).code == 403
        with pytest.raises(HTTPClientError) as info:
            await websocket_connect(HTTPRequest(server.ws_url(sid), headers={"X-User": "bob"}))
        assert info.value.code == 403
        assert server.listener.messages == []
        assert (await server.post(sid, "4mine", headers={"X-User": "alice"})).code == 200
        assert (await server.get(sid, headers={"X-User": "alice"})).body == b"4mine"
        assert server.reasons(sid) == []
    finally:
        stop()


async def test_a_websocket_client_that_stops_reading_is_dropped_alone(caplog):
    # A peer that never reads must not make the server buffer without end: past the limit its
    # session closes with a logged reason, and another client goes on unharmed.
    server, stop = await start(ping_interval=5, ping_timeout=5, max_buffered_bytes=256 * 1024)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
        await wait_until(lambda: len(server.driver.engine.sessions) == 1)
        (stalled,) = server.driver.engine.sessions.values()
        healthy = await ws_open(server)
        assert str(await read(healthy)).startswith("0")

        chunk = "x" * 64 * 1024
        for _ in range(2000):  # up to 128 MB, far past what the kernel buffers take
            stalled.send([chunk])
            if stalled.closed:
                break
            await asyncio.sleep(0)
        assert stalled.closed
        assert server.reasons(stalled.sid) == ["transport error"]
        assert "over the limit" in caplog.text

        await healthy.write_message("4still here")
        assert await read(healthy) == "4still here"
        healthy.close()
        writer.close()
    finally:
        stop()


async def test_run_sliced_yields_to_the_loop_between_slices() -> None:
    server, stop = await start()
    try:
        driver = server.driver
        driver.slice_seconds = 0.0  # one step per slice
        ran: list[int] = []
        steps = iter(range(5))

        def step(now: float, max_items: int) -> bool:
            index = next(steps)
            ran.append(index)
            return index < 4

        others = asyncio.get_running_loop().call_soon
        others(lambda: ran.append(-1))
        await driver.run_sliced(step)
        assert ran == [0, -1, 1, 2, 3, 4]  # the other callback ran between two slices
    finally:
        stop()
