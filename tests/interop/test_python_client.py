"""PyPI ``python-socketio``'s ``AsyncClient`` against a real jupyter_rt server, over real sockets.

The python-socketio client names its disconnect reasons differently from the JS client
(``sio.reason.SERVER_DISCONNECT == "server disconnect"``); the server's names are Node's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import socketio

from jupyter_rt.testing import wait_until
from tests.interop.support import ServerProcess, connects, disconnects

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

TRANSPORTS = ["polling", "websocket", "upgrade"]
BOTH = ["polling", "websocket"]
STEP = 5.0  # seconds any single wait may take


def client_left(transport: str) -> set[str]:
    """What the server may report when a python-socketio client calls ``disconnect()``.

    Over WebSocket that client closes the socket without flushing its queue, so the DISCONNECT
    packet may never be sent: the server then sees the transport close.
    """
    if transport == "polling":
        return {"client namespace disconnect"}
    return {"client namespace disconnect", "transport close"}


def transports_for(transport: str) -> list[str] | None:
    return None if transport == "upgrade" else [transport]


@asynccontextmanager
async def client(
    server: ServerProcess,
    transport: str,
    auth: dict[str, Any],
    namespaces: list[str] | None = None,
    query: str = "",
    setup: Callable[[socketio.AsyncClient], None] | None = None,
    **options: Any,
) -> AsyncIterator[socketio.AsyncClient]:
    options.setdefault("reconnection", False)
    sio = socketio.AsyncClient(**options)
    if setup is not None:
        setup(sio)
    await asyncio.wait_for(
        sio.connect(
            server.url + query,
            headers={"X-Interop": "yes"},
            auth=auth,
            transports=transports_for(transport),
            namespaces=namespaces or ["/"],
            wait_timeout=STEP,
        ),
        STEP * 2,
    )
    try:
        yield sio
    finally:
        if sio.connected:
            await asyncio.wait_for(sio.disconnect(), STEP)
        await asyncio.wait_for(sio.shutdown(), STEP) if hasattr(sio, "shutdown") else None


async def call(sio: socketio.AsyncClient, event: str, *args: Any, namespace: str = "/") -> Any:
    data: Any = args if len(args) != 1 else args[0]
    if not args:
        data = None
    return await sio.call(event, data, namespace=namespace, timeout=STEP)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_echo_and_handshake(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    auth = {"tag": tag, "hello": "world"}
    async with client(interop_server, transport, auth, query="?flavor=vanilla") as sio:
        if transport == "upgrade":
            await wait_until(
                lambda: sio.transport() == "websocket", STEP, 0.02, "the upgrade to websocket"
            )
        assert sio.transport() == ("polling" if transport == "polling" else "websocket")
        who = await call(sio, "whoami")
        assert who["id"] == sio.get_sid("/")
        assert who["id"] != sio.eio.sid
        assert who["auth"] == auth
        assert who["query"]["flavor"] == "vanilla"
        assert who["header"] == "yes"
        assert who["address"] == "127.0.0.1"
        assert who["rooms"] == [who["id"]]
        assert await call(sio, "echo", 1, "two", {"three": [3, None, True]}) == (
            1,
            "two",
            {"three": [3, None, True]},
        )
        assert await call(sio, "echo", "one") == "one"
        assert await call(sio, "noop", "x") is None
    log = await interop_server.await_log(tag, lambda e: bool(disconnects(e)))
    assert [c["auth"] for c in connects(log)] == [auth]
    assert len(disconnects(log)) == 1
    assert disconnects(log)[0] in client_left(transport)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_acks_both_ways(interop_server: ServerProcess, tag: str, transport: str) -> None:
    def setup(sio: socketio.AsyncClient) -> None:
        @sio.on("question")
        async def question(x: int) -> Any:
            return {"answer": x * 2}

        @sio.on("sum")
        def add(a: int, b: int) -> Any:
            return a + b

        @sio.on("question-bin")
        def question_bin() -> Any:
            return b"\x01\x02\x03\xfa"

        @sio.on("late")
        async def late() -> Any:
            await asyncio.sleep(0.8)
            return "too late"

    async with client(interop_server, transport, {"tag": tag}, setup=setup) as sio:
        ask = {"event": "question", "args": [21], "timeout": 5}
        assert await call(sio, "ask", ask) == {"reply": {"answer": 42}}
        assert await call(sio, "ask", {"event": "sum", "args": [2, 3], "timeout": 5}) == {
            "reply": 5
        }
        assert await call(sio, "ask", {"event": "question-bin", "args": [], "timeout": 5}) == {
            "reply": b"\x01\x02\x03\xfa"
        }
        timed_out = await call(sio, "ask", {"event": "late", "args": [], "timeout": 0.3})
        assert timed_out["error"] == "AckTimeout"
        assert 0.25 <= timed_out["elapsed"] < 3
        await asyncio.sleep(0.8)  # the late ack arrives after the server gave up on it
        assert await call(sio, "echo", "still here") == "still here"
        assert sio.connected


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_binary_both_ways(interop_server: ServerProcess, tag: str, transport: str) -> None:
    pushed: list[tuple[Any, ...]] = []

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.on("bin")
        def on_bin(*args: Any) -> None:
            pushed.append(args)

    async with client(interop_server, transport, {"tag": tag}, setup=setup) as sio:
        if transport == "upgrade":
            await wait_until(
                lambda: sio.transport() == "websocket", STEP, 0.02, "the upgrade to websocket"
            )
        big = bytes((i * 7) % 256 for i in range(100_000))
        payload = {"name": "blob", "data": bytes([0, 1, 2, 253, 254, 255]), "list": [b"abc", "x"]}
        assert await call(sio, "echo", payload, big, "text") == (payload, big, "text")
        assert await call(sio, "push-binary") == "pushed"
        await wait_until(lambda: bool(pushed), STEP, 0.02, "the pushed binary event")
        assert pushed == [({"data": bytes(range(256)), "nested": [b"\x00\xff", "text"]}, b"second")]


@pytest.mark.parametrize("transport", BOTH)
async def test_namespaces(interop_server: ServerProcess, tag: str, transport: str) -> None:
    paths = ["/", "/custom", "/dyn-7"]
    async with client(interop_server, transport, {"tag": tag}, namespaces=paths) as sio:
        ids = {}
        for path in paths:
            who = await call(sio, "whoami", namespace=path)
            assert who["nsp"] == path
            assert who["id"] == sio.get_sid(path)
            ids[path] = who["id"]
            assert await call(sio, "echo", path, namespace=path) == path
            assert await call(sio, "echo", b"\x07" + path.encode(), "t", namespace=path) == (
                b"\x07" + path.encode(),
                "t",
            )
        assert len(set(ids.values())) == 3
    log = await interop_server.await_log(tag, lambda e: len(disconnects(e)) >= 3)
    assert sorted(c["nsp"] for c in connects(log)) == sorted(paths)


@pytest.mark.parametrize("transport", BOTH)
@pytest.mark.parametrize("path", ["/nope", "/dyn-x"])
async def test_unknown_namespace(
    interop_server: ServerProcess, tag: str, transport: str, path: str
) -> None:
    errors: list[Any] = []
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("connect_error", namespace=path)
    def on_error(data: Any) -> None:
        errors.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(
            sio.connect(
                interop_server.url,
                auth={"tag": tag},
                transports=[transport],
                namespaces=[path],
                wait_timeout=STEP,
            ),
            STEP * 2,
        )
    assert errors == [{"message": "Invalid namespace"}]
    assert not sio.connected


@pytest.mark.parametrize("transport", BOTH)
async def test_middleware_refusal(interop_server: ServerProcess, tag: str, transport: str) -> None:
    errors: list[Any] = []
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("connect_error", namespace="/guarded")
    def on_error(data: Any) -> None:
        errors.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await asyncio.wait_for(
            sio.connect(
                interop_server.url,
                auth={"tag": f"{tag}-refused", "token": "wrong"},
                transports=[transport],
                namespaces=["/guarded"],
                wait_timeout=STEP,
            ),
            STEP * 2,
        )
    assert errors == [{"message": "not authorized", "data": {"code": 4001, "hint": "send a token"}}]
    assert connects(interop_server.log(f"{tag}-refused")) == []

    auth = {"tag": tag, "token": "letmein"}
    async with client(interop_server, transport, auth, namespaces=["/guarded"]) as ok:
        who = await call(ok, "whoami", namespace="/guarded")
        assert who["auth"] == auth


@pytest.mark.parametrize("transport", BOTH)
async def test_rooms_and_broadcasts(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    seen: dict[str, list[Any]] = {"A": [], "B": [], "C": []}

    def recorder(name: str) -> Callable[[socketio.AsyncClient], None]:
        def setup(sio: socketio.AsyncClient) -> None:
            @sio.on("*")
            def any_event(event: str, *args: Any) -> None:
                seen[name].append([event, *args])

        return setup

    async with (
        client(interop_server, transport, {"tag": f"{tag}-A"}, setup=recorder("A")) as a,
        client(interop_server, transport, {"tag": f"{tag}-B"}, setup=recorder("B")) as b,
        client(interop_server, transport, {"tag": f"{tag}-C"}, setup=recorder("C")) as c,
    ):
        assert "r1" in await call(a, "join", "r1")
        assert "r1" in await call(b, "join", "r1")
        assert "r2" in await call(c, "join", "r2")
        marker = 0

        async def mark() -> None:
            nonlocal marker
            marker += 1
            await call(a, "everyone", {"event": "marker", "data": marker})
            for name in seen:
                await wait_until(
                    lambda n=name: ["marker", marker] in seen[n], STEP, 0.02, f"marker at {name}"
                )

        await call(
            a, "broadcast", {"room": "r1", "event": "m", "data": "excl", "exclude_sender": True}
        )
        await mark()
        await call(
            a, "broadcast", {"room": "r1", "event": "m", "data": "all", "exclude_sender": False}
        )
        await mark()
        assert "r1" not in await call(b, "leave", "r1")
        await call(
            a, "broadcast", {"room": "r1", "event": "m", "data": "left", "exclude_sender": False}
        )
        await mark()
    m = [["marker", i] for i in (1, 2, 3)]
    assert seen["A"] == [m[0], ["m", "all"], m[1], ["m", "left"], m[2]]
    assert seen["B"] == [["m", "excl"], m[0], ["m", "all"], m[1], m[2]]
    assert seen["C"] == m


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_burst_of_40_each_way(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    items: list[int] = []

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.on("item")
        def item(i: int) -> None:
            items.append(i)

    async with client(interop_server, transport, {"tag": tag}, setup=setup) as sio:
        assert await call(sio, "burst", {"n": 40, "event": "item"}) == 40
        # The ack was sent after the 40 events, so they all came before it.
        assert items == list(range(40))
        for i in range(40):
            await sio.emit("tick", i)
        assert await call(sio, "ticks") == list(range(40))
        assert sio.transport() == ("polling" if transport == "polling" else "websocket")


@pytest.mark.parametrize("transport", BOTH)
async def test_server_disconnect(interop_server: ServerProcess, tag: str, transport: str) -> None:
    reasons: list[str] = []
    connected = 0

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.event
        def connect() -> None:
            nonlocal connected
            connected += 1

        @sio.event
        def disconnect(reason: str) -> None:
            reasons.append(reason)

    async with client(
        interop_server,
        transport,
        {"tag": tag},
        setup=setup,
        reconnection=True,
        reconnection_delay=0.1,
        reconnection_delay_max=0.2,
        randomization_factor=0,
    ) as sio:
        await sio.emit("disconnect-me")
        await wait_until(lambda: bool(reasons), STEP, 0.02, "the disconnect")
        assert reasons == [sio.reason.SERVER_DISCONNECT]
        await asyncio.sleep(1)  # a reconnecting client would be back by now
        assert connected == 1
        assert not sio.connected
    log = await interop_server.await_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["server namespace disconnect"]


@pytest.mark.parametrize("transport", BOTH)
async def test_reconnects_after_server_drops_transport(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    reasons: list[str] = []
    sids: list[str] = []

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.event
        def connect() -> None:
            sids.append(sio.get_sid("/"))

        @sio.event
        def disconnect(reason: str) -> None:
            reasons.append(reason)

    async with client(
        interop_server,
        transport,
        {"tag": tag},
        setup=setup,
        reconnection=True,
        reconnection_delay=0.1,
        reconnection_delay_max=0.3,
        randomization_factor=0,
    ) as sio:
        await sio.emit("drop-transport")
        await wait_until(lambda: len(sids) == 2 and sio.connected, 10, 0.02, "the reconnection")
        assert sids[0] != sids[1]
        assert len(reasons) == 1 and reasons[0] != sio.reason.SERVER_DISCONNECT
        assert await call(sio, "echo", "after reconnect") == "after reconnect"
    log = await interop_server.await_log(tag, lambda e: len(disconnects(e)) >= 2)
    assert [c["id"] for c in connects(log)] == sids
    assert disconnects(log)[-1] in client_left(transport)


async def test_broadcast_to_many_clients_on_mixed_transports(
    interop_server: ServerProcess, tag: str
) -> None:
    n = 8
    got: list[list[Any]] = [[] for _ in range(n)]

    def recorder(i: int) -> Callable[[socketio.AsyncClient], None]:
        def setup(sio: socketio.AsyncClient) -> None:
            @sio.on("fan")
            def fan(value: Any) -> None:
                got[i].append(value)

        return setup

    kinds = ["polling", "websocket"]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                client(interop_server, kinds[i % 2], {"tag": f"{tag}-{i}"}, setup=recorder(i))
            )
            for i in range(n)
        ]
        for sio in clients:
            await call(sio, "join", "fan")
        spec = {"room": "fan", "n": 20, "event": "fan", "binary_every": 5}
        assert await call(clients[0], "burst-room", spec) == 20
        await wait_until(lambda: all(len(g) >= 20 for g in got), STEP, 0.02, "all the broadcasts")
        await asyncio.sleep(0.1)
    expected = [bytes([i]) if i % 5 == 0 else i for i in range(20)]
    assert {i: g for i, g in enumerate(got) if g != expected} == {}


@pytest.mark.parametrize("transport", BOTH)
async def test_client_comes_back_after_graceful_close_and_restart(
    fresh_server: ServerProcess, tag: str, transport: str
) -> None:
    reasons: list[str] = []
    sids: list[str] = []

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.event
        def connect() -> None:
            sids.append(sio.get_sid("/"))

        @sio.event
        def disconnect(reason: str) -> None:
            reasons.append(reason)

    async with client(
        fresh_server,
        transport,
        {"tag": tag},
        setup=setup,
        reconnection=True,
        reconnection_delay=0.2,
        reconnection_delay_max=0.5,
        randomization_factor=0,
    ) as sio:
        await sio.emit("shutdown")
        await wait_until(lambda: bool(reasons), STEP, 0.02, "the disconnect")
        assert reasons == [sio.reason.TRANSPORT_ERROR]
        log = await fresh_server.await_log(tag, lambda e: bool(disconnects(e)))
        assert disconnects(log) == ["server shutting down"]
        await asyncio.to_thread(fresh_server.stop)
        await asyncio.to_thread(fresh_server.start)
        await wait_until(lambda: len(sids) == 2 and sio.connected, 15, 0.02, "the reconnection")
        assert await call(sio, "echo", "back") == "back"


async def echo_all(server: ServerProcess, tag: str, transport: str, samples: dict[str, str]) -> Any:
    async with client(server, transport, {"tag": tag}) as sio:
        echoed = {}
        for name, value in samples.items():
            try:
                back = await sio.call("echo", value, timeout=2)
                echoed[name] = "same" if back == value else "changed"
            except socketio.exceptions.TimeoutError:
                echoed[name] = f"no ack; connected: {sio.connected}"
    return echoed


@pytest.mark.parametrize("transport", BOTH)
async def test_awkward_strings_round_trip(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    samples = {
        "separator": "a\x1eb\x1e",
        "controls": "nul:\x00 tab:\t nl:\n",
        "lineSeparators": "\u2028\u2029",
        "emoji": "😀 ünïcödé 中文",
    }
    assert await echo_all(interop_server, tag, transport, samples) == dict.fromkeys(samples, "same")


@pytest.mark.parametrize("transport", BOTH)
async def test_lone_surrogate_round_trips(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # python-socketio sends it as a JSON \ud83d escape, as JSON.stringify does.
    samples = {"loneSurrogate": "cut emoji: \ud83d"}
    assert await echo_all(interop_server, tag, transport, samples) == {"loneSurrogate": "same"}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_sync_client(interop_server: ServerProcess, tag: str, transport: str) -> None:
    # python-socketio's threaded Client speaks through requests and websocket-client instead.
    items: list[int] = []
    sio = socketio.Client(reconnection=False)
    sio.on("item", items.append)
    sio.connect(
        interop_server.url,
        auth={"tag": tag},
        transports=transports_for(transport),
        wait_timeout=STEP,
    )
    try:
        assert sio.transport() == ("polling" if transport == "polling" else "websocket")
        assert sio.call("echo", (1, b"\x00\x01", "x"), timeout=STEP) == (1, b"\x00\x01", "x")
        assert sio.call("burst", {"n": 40, "event": "item"}, timeout=STEP) == 40
        assert items == list(range(40))
        assert sio.call("whoami", timeout=STEP)["auth"] == {"tag": tag}
    finally:
        sio.disconnect()
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log)[0] in client_left(transport)


@pytest.mark.parametrize("transport", BOTH)
async def test_server_sends_more_than_max_payload(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    got: list[tuple[Any, ...]] = []

    def setup(sio: socketio.AsyncClient) -> None:
        @sio.on("big")
        def big(*args: Any) -> None:
            got.append(args)

    size = 3_000_000
    async with client(interop_server, transport, {"tag": tag}, setup=setup) as sio:
        assert await call(sio, "push-big", size) == size
        await wait_until(lambda: bool(got), STEP, 0.02, "the big event")
    assert got == [("z" * size, bytes(size))]


@pytest.mark.parametrize("transport", BOTH)
async def test_reserved_event_from_client_is_refused(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # python-socketio lets an application emit "disconnect"; the server must not run its
    # disconnect handler with the client's arguments: it closes the session instead.
    async with client(interop_server, transport, {"tag": tag}) as sio:
        await sio.emit("disconnect", "spoofed")
        await wait_until(lambda: not sio.connected, STEP, 0.02, "the server to close the session")
    log = await interop_server.await_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["parse error"]
