"""``AsyncClient`` against a real jupyter_rt server on an in-process Tornado app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from tornado import web, websocket

import jupyter_rt
from jupyter_rt.client import AsyncClient, ConnectError
from jupyter_rt.testing import InProcessServer, wait_until
from tests.helpers import free_port

STEP = 5.0


def echo_app(io: jupyter_rt.Server, seen: list[Any]) -> None:
    @io.on("connection")
    def on_connection(socket: jupyter_rt.Socket) -> None:
        @socket.on("note")
        def note(*args: Any) -> None:
            seen.append(args)

        @socket.on("echo")
        def echo(*args: Any) -> Any:
            return args

        @socket.on("silent")
        def silent(*args: Any, ack: Any) -> None:
            """Asks for an ack and never gives one."""

        @socket.on("whoami")
        def whoami() -> dict[str, Any]:
            return {"sid": socket.id, "auth": dict(socket.handshake.auth)}


@pytest.fixture
def client() -> AsyncClient:
    return AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.2, connect_timeout=5)


async def test_connect_emit_and_call(server: InProcessServer, client: AsyncClient) -> None:
    seen: list[Any] = []
    echo_app(server.io, seen)
    await client.connect(server.url, auth={"user": "ada"})
    try:
        assert client.connected and client.sid
        await client.emit("note", 1, "two", {"three": [3]})
        await wait_until(lambda: seen == [(1, "two", {"three": [3]})])
        assert await client.call("echo", "one") == "one"
        assert await client.call("echo", 1, 2) == (1, 2)
        assert await client.call("echo") is None
        who = await client.call("whoami")
        assert who == {"sid": client.sid, "auth": {"user": "ada"}}
        replies: list[Any] = []
        await client.emit("echo", "cb", 2, callback=lambda *a: replies.append(a))
        await wait_until(lambda: replies == [("cb", 2)])
    finally:
        await client.disconnect()
    assert not client.connected


async def test_call_times_out(server: InProcessServer, client: AsyncClient) -> None:
    echo_app(server.io, [])
    await client.connect(server.url)
    try:
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("silent", 1, timeout=0.3)
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("no-such-event", timeout=0.2)
        # The connection is still good afterwards.
        assert await client.call("echo", "still here") == "still here"
    finally:
        await client.disconnect()


async def test_binary_both_ways(server: InProcessServer, client: AsyncClient) -> None:
    echo_app(server.io, [])
    blob = bytes(range(256)) * 4
    got: list[Any] = []

    @server.io.of("/bin").on("connection")
    async def on_bin(socket: jupyter_rt.Socket) -> None:
        @socket.on("ready")
        async def ready() -> None:
            await socket.emit("blob", {"data": blob, "parts": [b"a", b"", b"\x00\xff"]})

    client.on("blob", lambda payload: got.append(payload), namespace="/bin")
    await client.connect(server.url, namespaces=["/", "/bin"])
    try:
        payload = {"name": "x", "data": [blob, {"inner": b"\x01\x02"}]}
        assert await client.call("echo", payload, b"tail") == (payload, b"tail")
        await client.emit("ready", namespace="/bin")
        await wait_until(lambda: len(got) == 1)
        assert got[0] == {"data": blob, "parts": [b"a", b"", b"\x00\xff"]}
    finally:
        await client.disconnect()


async def test_server_calls_the_client(server: InProcessServer, client: AsyncClient) -> None:
    answers: list[Any] = []
    sockets: list[jupyter_rt.Socket] = []

    @server.io.on("connection")
    def on_connection(socket: jupyter_rt.Socket) -> None:
        sockets.append(socket)

    @client.on("add")
    def add(a: int, b: int) -> int:
        return a + b

    @client.on("pair")
    async def pair(x: Any) -> tuple[Any, Any]:
        await asyncio.sleep(0.01)
        return x, b"bin"

    @client.on("nothing")
    def nothing() -> None:
        answers.append("nothing called")

    @client.on("boom")
    def boom() -> None:
        raise RuntimeError("handler failure")

    await client.connect(server.url)
    try:
        await wait_until(lambda: sockets)
        socket = sockets[0]
        assert await socket.call("add", 2, 3, timeout=STEP) == 5
        assert await socket.call("pair", "p", timeout=STEP) == ("p", b"bin")
        assert await socket.call("nothing", timeout=STEP) is None
        assert answers == ["nothing called"]
        with pytest.raises(jupyter_rt.AckTimeout):  # a failing handler gives no ack
            await socket.call("boom", timeout=0.3)
        assert await socket.call("add", 1, 1, timeout=STEP) == 2
    finally:
        await client.disconnect()


async def test_answers_pings(server: InProcessServer, client: AsyncClient) -> None:
    echo_app(server.io, [])
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(server.url)
    try:
        sid = client.sid
        await asyncio.sleep(2.5)  # pingInterval + pingTimeout is 1 s here
        assert client.connected and client.sid == sid and reasons == []
        assert await client.call("echo", "alive") == "alive"
    finally:
        await client.disconnect()
    assert reasons == ["io client disconnect"]


async def test_reconnects_after_the_transport_drops(
    server: InProcessServer, client: AsyncClient
) -> None:
    seen: list[Any] = []
    echo_app(server.io, seen)
    events: list[Any] = []
    client.on("connect", lambda: events.append("connect"))
    client.on("disconnect", lambda reason: events.append(("disconnect", reason)))
    await client.connect(server.url)
    try:
        first = client.sid
        await wait_until(lambda: events == ["connect"])
        server.drop()
        await wait_until(lambda: events[-1:] == ["connect"] and len(events) == 3)
        assert events == ["connect", ("disconnect", "transport close"), "connect"]
        assert client.connected and client.sid != first
        assert await client.call("echo", "back") == "back"
    finally:
        await client.disconnect()


async def test_reconnects_after_a_server_restart_and_sends_what_was_buffered(
    server: InProcessServer, client: AsyncClient
) -> None:
    seen: list[Any] = []
    echo_app(server.io, seen)
    await client.connect(server.url)
    try:
        await server.stop()
        await wait_until(lambda: not client.connected)
        await client.emit("note", "while down")  # kept until the namespace is back
        await asyncio.sleep(0.5)  # several failed attempts
        server.start()
        await wait_until(lambda: client.connected)
        await wait_until(lambda: seen == [("while down",)])
        assert await client.call("echo", "after restart") == "after restart"
    finally:
        await client.disconnect()


async def test_no_reconnection_after_a_server_disconnect(
    server: InProcessServer, client: AsyncClient
) -> None:
    sockets: list[jupyter_rt.Socket] = []
    server.io.on("connection", sockets.append)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(server.url)
    await wait_until(lambda: sockets)
    sockets[0].disconnect()
    await asyncio.wait_for(client.wait(), STEP)
    assert reasons == ["io server disconnect"]
    assert not client.connected
    await asyncio.sleep(0.3)
    assert len(sockets) == 1, "the client came back"
    with pytest.raises(jupyter_rt.NotConnected):
        await client.emit("note", 1)


async def test_pending_call_fails_when_the_connection_drops(
    server: InProcessServer, client: AsyncClient
) -> None:
    echo_app(server.io, [])
    await client.connect(server.url)
    try:
        call = asyncio.ensure_future(client.call("silent", timeout=STEP))
        await asyncio.sleep(0.1)
        server.drop()
        with pytest.raises(jupyter_rt.NotConnected):
            await call
        await wait_until(lambda: client.connected)
    finally:
        await client.disconnect()


async def test_refused_namespace(server: InProcessServer, client: AsyncClient) -> None:
    def refuse(socket: jupyter_rt.Socket) -> None:
        raise jupyter_rt.ConnectionRefused("not you", {"code": 7})

    server.io.of("/private").use(refuse)
    with pytest.raises(jupyter_rt.ConnectionRefused) as info:
        await client.connect(server.url, namespaces=["/private"])
    assert info.value.message == "not you"
    assert info.value.data == {"code": 7}
    with pytest.raises(jupyter_rt.ConnectionRefused) as info:
        await client.connect(server.url + "/nowhere")
    assert info.value.message == "Invalid namespace"
    assert not client.connected


async def test_connect_errors(server: InProcessServer, client: AsyncClient) -> None:
    with pytest.raises(ConnectError, match="404"):
        await client.connect(server.url, path="/not-socket.io/")
    await server.stop()
    with pytest.raises(ConnectError):
        await client.connect(server.url)
    with pytest.raises(ValueError):
        await client.connect("ftp://example.org")


async def test_emit_checks(server: InProcessServer, client: AsyncClient) -> None:
    echo_app(server.io, [])
    with pytest.raises(jupyter_rt.NotConnected):
        await client.emit("note")
    await client.connect(server.url)
    try:
        with pytest.raises(ValueError):
            await client.emit("disconnect")
        with pytest.raises(jupyter_rt.NotConnected):
            await client.emit("note", namespace="/other")
        with pytest.raises(TypeError):
            await client.emit("note", object())
    finally:
        await client.disconnect()


class SilentEngine(websocket.WebSocketHandler):
    """An Engine.IO server that accepts a namespace, then goes quiet (no pings) or sends ``1``."""

    opened: list[str] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.opened.append(self.get_query_argument("EIO"))
        self.write_message(
            '0{"sid":"s","upgrades":[],"pingInterval":200,"pingTimeout":200,"maxPayload":1000}'
        )

    def on_message(self, message: str | bytes) -> None:
        if message == "40":
            self.write_message('40{"sid":"n"}')
            if self.get_query_argument("close", "") == "1":
                self.write_message("1")


@pytest.fixture
def silent_server() -> Any:
    SilentEngine.opened = []
    app = web.Application([(r"/socket.io/", SilentEngine)])
    port = free_port()
    http = app.listen(port, "127.0.0.1")
    yield f"http://127.0.0.1:{port}"
    http.stop()


async def test_ping_timeout_reconnects(silent_server: str, client: AsyncClient) -> None:
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(silent_server, transports=["websocket"])
    try:
        await wait_until(lambda: len(SilentEngine.opened) >= 2)
        assert reasons[0] == "ping timeout"
        assert SilentEngine.opened[:2] == ["4", "4"]
    finally:
        await client.disconnect()


async def test_engine_close_packet_ends_the_transport_only(
    silent_server: str, client: AsyncClient
) -> None:
    """As the official clients do: an Engine.IO CLOSE (``1``) is a lost transport, not a
    disconnect; the client comes back (only a Socket.IO DISCONNECT is final)."""
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(silent_server, query={"close": "1"}, transports=["websocket"])
    try:
        await wait_until(lambda: len(SilentEngine.opened) >= 2)
        assert reasons[0] == "transport close"
    finally:
        await client.disconnect()


async def test_gives_up_after_the_last_attempt(server: InProcessServer) -> None:
    client = AsyncClient(reconnection_attempts=2, reconnection_delay=0.05)
    errors: list[Exception] = []
    client.on("connect_error", errors.append)
    await client.connect(server.url)
    await server.stop()
    await asyncio.wait_for(client.wait(), STEP)
    assert len(errors) == 2 and all(isinstance(e, ConnectError) for e in errors)
    with pytest.raises(jupyter_rt.NotConnected):
        await client.emit("anything")


async def test_one_namespace_leaves_the_others_stay(
    server: InProcessServer, client: AsyncClient
) -> None:
    echo_app(server.io, [])
    kicked: list[jupyter_rt.Socket] = []
    server.io.of("/kick").on("connection", kicked.append)
    reasons: list[tuple[str, str]] = []
    client.on("disconnect", lambda r: reasons.append(("/kick", r)), namespace="/kick")
    await client.connect(server.url, namespaces=["/", "/kick"])
    try:
        assert set(client.namespaces) == {"/", "/kick"}
        await wait_until(lambda: kicked)
        kicked[0].disconnect()
        await wait_until(lambda: reasons == [("/kick", "io server disconnect")])
        assert client.connected and set(client.namespaces) == {"/"}
        assert await client.call("echo", "still") == "still"
        with pytest.raises(jupyter_rt.NotConnected):
            await client.emit("x", namespace="/kick")
    finally:
        await client.disconnect()


async def test_methods_default_to_the_first_namespace(
    server: InProcessServer, client: AsyncClient
) -> None:
    got: list[tuple[str, Any]] = []
    for name in ("/a", "/b"):

        def on_connection(socket: jupyter_rt.Socket, name: str = name) -> None:
            socket.on("echo", lambda *args: (name, *args))
            socket.on("note", lambda value: got.append((name, value)))

        server.io.of(name).on("connection", on_connection)
    heard: list[Any] = []
    client.on("disconnect", lambda reason: heard.append(reason))  # for /a, the default
    await client.connect(server.url, namespaces=["/a", "/b"])
    try:
        assert client.default_namespace == "/a"
        assert client.get_sid() == client.namespaces["/a"]
        assert await client.call("echo", 1) == ("/a", 1)
        assert await client.call("echo", 2, namespace="/b") == ("/b", 2)
        await client.emit("note", "x")
        await wait_until(lambda: got == [("/a", "x")])
    finally:
        await client.disconnect()
    assert heard == ["io client disconnect"]
    await client.connect(server.url + "/b")
    try:
        assert client.default_namespace == "/b"
        assert await client.call("echo", 3) == ("/b", 3)
    finally:
        await client.disconnect()


async def test_messages_over_the_servers_max_payload_are_refused(client: AsyncClient) -> None:
    small = InProcessServer(max_payload=1000).start()
    echo_app(small.io, [])
    try:
        await client.connect(small.url)
        assert client.max_payload == 1000
        with pytest.raises(ValueError, match="over the server's 1000"):
            await client.emit("note", "x" * 1000)
        with pytest.raises(ValueError):
            await client.call("echo", b"\x00" * 1001)
        assert await client.call("echo", "x" * 900) == "x" * 900
        assert client.connected
    finally:
        await client.disconnect()
        await small.close()


# -- the first connection, retried -------------------------------------------------------------


async def test_first_connection_is_retried_until_the_server_is_up() -> None:
    server = InProcessServer(setup=lambda io: echo_app(io, []))  # not listening yet
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.1)
    errors: list[Exception] = []
    client.on("connect_error", errors.append)
    connecting = asyncio.ensure_future(client.connect(server.url, retry=True))
    try:
        await wait_until(lambda: len(errors) >= 3, message="three failed attempts")
        assert not connecting.done() and all(isinstance(e, ConnectError) for e in errors)
        server.start()
        await asyncio.wait_for(connecting, STEP)
        assert await client.call("echo", "up") == "up"
    finally:
        connecting.cancel()
        await client.disconnect()
        await server.close()


async def test_first_connection_gives_up_after_the_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    client = AsyncClient(reconnection_attempts=2, reconnection_delay=0.05)
    errors: list[Exception] = []
    client.on("connect_error", errors.append)
    with pytest.raises(ConnectError):
        await client.connect(url, retry=True)
    await asyncio.sleep(0)
    assert len(errors) == 3  # the first attempt and two more
    errors.clear()
    with pytest.raises(ConnectError):
        await client.connect(url)  # retry=False: one attempt
    await asyncio.sleep(0)
    assert len(errors) == 1
    assert not client.connected


async def test_a_refusal_is_not_retried(server: InProcessServer) -> None:
    def refuse(socket: jupyter_rt.Socket) -> None:
        raise jupyter_rt.ConnectionRefused("no")

    server.io.use(refuse)
    client = AsyncClient(reconnection_delay=0.05)
    errors: list[Exception] = []
    client.on("connect_error", errors.append)
    with pytest.raises(jupyter_rt.ConnectionRefused):
        await asyncio.wait_for(client.connect(server.url, retry=True), STEP)
    await asyncio.sleep(0.2)
    assert len(errors) == 1


# -- ack timeouts ------------------------------------------------------------------------------


async def test_default_and_per_call_ack_timeouts(server: InProcessServer) -> None:
    echo_app(server.io, [])

    @server.io.on("connection")
    def slow_app(socket: jupyter_rt.Socket) -> None:
        @socket.on("slow")
        async def slow(delay: float, value: Any) -> Any:
            await asyncio.sleep(delay)
            return value

    client = await server.connect(ack_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(jupyter_rt.AckTimeout):
        await client.call("silent")  # no timeout given: ack_timeout
    assert 0.25 < loop.time() - started < 2
    assert await client.call("slow", 0.05, "quick") == "quick"
    assert await client.call("slow", 0.6, "patient", timeout=3) == "patient"
    with pytest.raises(jupyter_rt.AckTimeout):
        await client.call("slow", 0.6, "too late")
    with pytest.raises(jupyter_rt.AckTimeout):
        await client.call("slow", 0.2, "too late", timeout=0.05)


async def test_emit_callbacks_honour_the_ack_timeouts(
    server: InProcessServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback runs for an ack that comes in time; after the timeout (``ack_timeout``, or
    the emit's own) it is given up with a warning, and a late ack does not run it."""

    @server.io.on("connection")
    def slow_app(socket: jupyter_rt.Socket) -> None:
        @socket.on("slow")
        async def slow(delay: float, value: Any) -> Any:
            await asyncio.sleep(delay)
            return value

        @socket.on("done")
        def done() -> str:
            return "done"

    client = await server.connect(ack_timeout=0.2)
    acked: list[Any] = []
    await client.emit("slow", 0.01, "quick", callback=acked.append)
    await client.emit("slow", 0.5, "late", callback=acked.append)
    await client.emit("slow", 0.5, "patient", callback=acked.append, timeout=5)
    await client.emit("slow", 0.3, "impatient", callback=acked.append, timeout=0.05)
    await wait_until(lambda: "patient" in acked, STEP, message="the patient callback")
    assert await client.call("done") == "done"  # after the late acks, in order
    assert acked == ["quick", "patient"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "jupyter_rt.client"]
    assert "No ack for 'slow' within 0.2 s: its callback will not run" in warnings
    assert "No ack for 'slow' within 0.05 s: its callback will not run" in warnings


async def test_no_default_ack_timeout(server: InProcessServer) -> None:
    """``ack_timeout=None``: a call waits as long as the connection lasts."""
    echo_app(server.io, [])
    client = await server.connect(ack_timeout=None, reconnection_delay=0.05)
    call = asyncio.ensure_future(client.call("silent"))
    await asyncio.sleep(0.5)
    assert not call.done()
    server.drop()
    with pytest.raises(jupyter_rt.NotConnected):
        await asyncio.wait_for(call, STEP)


async def test_emit_nowait_keeps_order_with_awaited_emits(
    server: InProcessServer, client: AsyncClient
) -> None:
    seen: list[Any] = []
    echo_app(server.io, seen)
    await client.connect(server.url)
    try:
        client.emit_nowait("note", 1)
        await client.emit("note", 2)
        client.emit_nowait("note", 3, b"\x00\x01")
        assert await client.call("echo", "after") == "after"
        await wait_until(lambda: len(seen) == 3)
        assert seen == [(1,), (2,), (3, b"\x00\x01")]
        with pytest.raises(jupyter_rt.NotConnected):
            client.emit_nowait("note", namespace="/other")
        await server.stop()
        await wait_until(lambda: not client.connected)
        client.emit_nowait("note", "while down")  # kept until the namespace is back
        server.start()
        await wait_until(lambda: seen[-1:] == [("while down",)])
    finally:
        await client.disconnect()
    with pytest.raises(jupyter_rt.NotConnected):
        client.emit_nowait("note", "after disconnect")


def named_app(name: str) -> Callable[[jupyter_rt.Server], None]:
    """An app whose ``name`` event acks ``name``: which server a client reached."""

    def setup(io: jupyter_rt.Server) -> None:
        @io.on("connection")
        def on_connection(socket: jupyter_rt.Socket) -> None:
            socket.on("name", lambda: name)

    return setup


async def test_several_urls_are_tried_in_turn_and_a_lost_one_hands_over_to_the_next() -> None:
    one = InProcessServer(setup=named_app("one"), ping_interval=0.5, ping_timeout=0.5).start()
    two = InProcessServer(setup=named_app("two"), ping_interval=0.5, ping_timeout=0.5).start()
    nobody = f"http://127.0.0.1:{free_port()}"
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.2, connect_timeout=5)
    errors: list[Exception] = []
    connects: list[str | None] = []
    client.on("connect_error", errors.append)
    client.on("connect", lambda: connects.append(client.sid))
    try:
        await client.connect([nobody, one.url, two.url])  # no retry: one round of the urls
        assert await client.call("name") == "one"
        assert [type(e) for e in errors] == [ConnectError]
        client.drop()  # the next attempt goes to the next server
        await wait_until(lambda: len(connects) == 2, STEP, 0.02, lambda: f"{connects} {errors}")
        assert await client.call("name") == "two"
        two.drop()  # the next after the last is the first: nobody answers, then one does
        await wait_until(lambda: len(connects) == 3, STEP, 0.02, lambda: f"{connects} {errors}")
        assert await client.call("name") == "one"
        assert len(errors) == 2
    finally:
        await client.disconnect()
        await one.close()
        await two.close()


async def test_several_urls_name_one_set_of_namespaces() -> None:
    client = AsyncClient()
    with pytest.raises(ValueError, match="different namespaces"):
        await client.connect(["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"])
    with pytest.raises(ValueError, match="at least one url"):
        await client.connect([])
    nobody = [f"http://127.0.0.1:{free_port()}/a", f"http://127.0.0.1:{free_port()}/b"]
    with pytest.raises(ConnectError):  # with namespaces given, the urls' paths do not matter
        await client.connect(nobody, namespaces=["/a"])
