"""The client against the reference implementation: Node's socket.io 4.8 server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import AsyncClient, Client, ConnectError
from jupyter_rt.client import _namespace as namespace_state
from jupyter_rt.testing import wait_until
from tests.helpers import Process, free_port, node_env

pytestmark = [pytest.mark.node, pytest.mark.interop]

SERVER = Path(__file__).with_name("node_server.cjs")
TRANSPORTS = [None, ["polling"], ["websocket"]]
"""The default (polling, then the upgrade), long-polling only, WebSocket only."""


def transports_id(transports: list[str] | None) -> str:
    return "upgrade" if transports is None else "+".join(transports)


by_transport = pytest.mark.parametrize("transports", TRANSPORTS, ids=transports_id)

StartNode = Callable[..., str]


@pytest.fixture
def start_node(node_bin: str, node_dir: Path, spawn: Callable[..., Process]) -> StartNode:
    """``start_node(*flags, port=None)``: Node's server on ``port`` (a free one by default)."""

    def start(*flags: str, port: int | None = None) -> str:
        port = port or free_port()
        process = spawn([node_bin, SERVER, str(port), *flags], name="node-server", env=node_env())
        process.wait_for_output("READY", timeout=20)
        return f"http://127.0.0.1:{port}"

    return start


@pytest.fixture
def node_server(start_node: StartNode) -> str:
    return start_node()


@pytest.fixture
def recovery_server(start_node: StartNode) -> str:
    """Node's server with ``connectionStateRecovery``."""
    return start_node("recovery")


@by_transport
async def test_events_acks_binary_and_calls(node_server: str, transports: Any) -> None:
    client = AsyncClient(connect_timeout=5)

    @client.on("question")
    def question(text: str, blob: bytes) -> dict[str, Any]:
        return {"text": text, "blob": blob, "answer": 42}

    await client.connect(node_server, auth={"token": "t"}, transports=transports)
    try:
        who = await client.call("whoami")
        assert (who["id"], who["auth"]) == (client.sid, {"token": "t"})
        assert who["firstTransport"] == (transports or ["polling"])[0]
        payload = {"bin": b"\x00\xff" * 100, "nested": [b"x", {"y": b""}]}
        assert await client.call("echo", payload, "two") == (payload, "two")
        answer = await client.call("ask", "life?")
        assert answer == {"text": "life?", "blob": b"\x01\x02\x03", "answer": 42}
        await asyncio.sleep(1.0)  # several of Node's pings, answered
        assert client.connected
        expected = "polling" if transports == ["polling"] else "websocket"
        assert client.transport == expected
        assert (await client.call("whoami"))["transport"] == expected
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("nobody-listens", timeout=0.3)
    finally:
        await client.disconnect()


@by_transport
async def test_reconnection_and_server_disconnect(node_server: str, transports: Any) -> None:
    client = AsyncClient(reconnection_delay=0.05, reconnection_delay_max=0.2)
    reasons: list[str] = []
    client.on("disconnect", reasons.append)
    await client.connect(node_server, transports=transports)
    first = client.sid
    await client.emit("drop")  # on polling Node ends the GET with a CLOSE packet
    await wait_until(
        lambda: client.connected and client.sid != first, 5, 0.02, lambda: f"a new sid; {reasons}"
    )
    assert reasons == ["transport close"]
    assert not client.recovered  # no recovery on this server
    await client.emit("kick")
    await asyncio.wait_for(client.wait(), 5)
    assert reasons == ["transport close", "io server disconnect"]


async def test_refusal_by_middleware(node_server: str) -> None:
    client = AsyncClient()
    errors: list[Exception] = []
    client.on("connect_error", errors.append, namespace="/refuse")
    with pytest.raises(jupyter_rt.ConnectionRefused) as info:
        await client.connect(node_server + "/refuse", retry=True)  # a refusal is not retried
    assert info.value.message == "not you" and info.value.data == {"code": 7}
    await asyncio.sleep(0.1)
    assert len(errors) == 1


async def test_first_connection_waits_for_a_server_starting_late(start_node: StartNode) -> None:
    port = free_port()
    client = AsyncClient(reconnection_delay=0.1, reconnection_delay_max=0.2)
    errors: list[Exception] = []
    client.on("connect_error", errors.append)
    connecting = asyncio.ensure_future(
        client.connect(f"http://127.0.0.1:{port}", retry=True, auth={"late": True})
    )
    try:
        await wait_until(lambda: len(errors) >= 2, 10, 0.02, "two failed attempts")
        assert not connecting.done()
        assert all(isinstance(error, ConnectError) for error in errors)
        await asyncio.to_thread(start_node, port=port)
        await asyncio.wait_for(connecting, 10)
        assert (await client.call("whoami"))["auth"] == {"late": True}
    finally:
        connecting.cancel()
        await client.disconnect()


@by_transport
async def test_handlers_catch_all_and_off(node_server: str, transports: Any) -> None:
    client = AsyncClient()
    seen: list[Any] = []
    client.on("add", lambda a, b: a + b)
    client.on("add", lambda a, b: seen.append(("second", a, b)) or "ignored")
    client.on("*", lambda event, *args: seen.append(("*", event, *args)) or "from *")
    await client.connect(node_server, transports=transports)
    try:
        assert await client.call("callme", "add", [2, 3]) == {"answer": 5}
        assert seen == [("second", 2, 3), ("*", "add", 2, 3)]
        seen.clear()
        assert await client.call("callme", "unknown", ["x"]) == {"answer": "from *"}
        client.off("add")
        assert await client.call("callme", "add", [1, 1]) == {"answer": "from *"}
        client.off("*")
        assert await client.call("callme", "add", [1, 1]) == {"error": "operation has timed out"}
    finally:
        await client.disconnect()


@by_transport
async def test_default_and_per_call_ack_timeouts(node_server: str, transports: Any) -> None:
    client = AsyncClient(ack_timeout=0.3)
    await client.connect(node_server, transports=transports)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("silent")
        assert 0.25 < loop.time() - started < 2
        assert await client.call("slow", 50, "quick") == "quick"
        assert await client.call("slow", 600, "patient", timeout=3) == "patient"
        with pytest.raises(jupyter_rt.AckTimeout):
            await client.call("slow", 600, "too late")
    finally:
        await client.disconnect()


# -- connection state recovery ---------------------------------------------------------------


async def listen(url: str, transports: Any, **options: Any) -> tuple[AsyncClient, list[Any]]:
    """A client in room ``r`` that keeps its ``line`` events and its life in a list."""
    client = AsyncClient(reconnection_delay=0.3, randomization_factor=0, **options)
    heard: list[Any] = []
    client.on("line", heard.append)  # one argument: a left-over offset would make it raise
    client.on("connect", lambda: heard.append(("connect", client.recovered)))
    client.on("disconnect", lambda reason: heard.append(("disconnect", reason)))
    await client.connect(url, transports=transports, auth={"user": "ada"})
    await client.call("join", "r")
    return client, heard


@by_transport
async def test_recovers_the_session_and_the_missed_events(
    recovery_server: str, transports: Any
) -> None:
    listener, heard = await listen(recovery_server, transports)
    speaker = AsyncClient()
    await speaker.connect(recovery_server, transports=["websocket"])
    try:
        await speaker.call("say", "r", ["before"])
        await wait_until(lambda: "before" in heard)
        sid = listener.sid
        assert not listener.recovered
        listener.drop()  # the network fails: no DISCONNECT
        await speaker.call("say", "r", ["missed 1", "missed 2", "missed 3"])
        await wait_until(lambda: listener.connected, 5, 0.02, "the listener back")
        assert listener.sid == sid and listener.recovered and listener.is_recovered("/")
        await speaker.call("say", "r", ["after"])  # still in the room, not joined again
        await wait_until(lambda: "after" in heard)
        assert heard == [
            ("connect", False),
            "before",
            ("disconnect", "transport close"),
            "missed 1",  # the missed events come before the connect handlers run
            "missed 2",
            "missed 3",
            ("connect", True),
            "after",
        ]
        who = await listener.call("whoami")
        assert who["recovered"] is True and who["id"] == sid
        assert who["auth"]["user"] == "ada" and set(who["auth"]) == {"pid", "offset", "user"}
        assert listener.transport == ("polling" if transports == ["polling"] else "websocket")
    finally:
        await listener.disconnect()
        await speaker.disconnect()


@pytest.mark.parametrize("recovery", [False, True], ids=["plain", "recovery"])
async def test_offsets_are_taken_off_only_where_the_server_adds_them(
    start_node: StartNode, recovery: bool
) -> None:
    url = start_node(*(["recovery"] if recovery else []))
    client = AsyncClient()
    got: list[Any] = []
    client.on("note", lambda *args: got.append(args))
    client.on("ask", lambda *args: list(args))  # with an ack: no offset
    await client.connect(url)
    try:
        assert await client.call("tell", "note", ["a", "last string"]) is None
        await wait_until(lambda: got)
        assert got == [("a", "last string")]
        assert await client.call("callme", "ask", ["x", "y"]) == {"answer": ["x", "y"]}
    finally:
        await client.disconnect()


async def test_no_recovery_before_a_first_event(recovery_server: str) -> None:
    """As with the official client: with no offset yet the server cannot tell what was
    missed, and starts a new session."""
    listener, heard = await listen(recovery_server, None)
    try:
        sid = listener.sid
        listener.drop()
        await wait_until(lambda: len(heard) == 3, 5, 0.02, lambda: f"reconnected; {heard}")
        assert heard[1:] == [("disconnect", "transport close"), ("connect", False)]
        assert listener.sid != sid and not listener.recovered
    finally:
        await listener.disconnect()


async def test_too_many_missed_events_start_a_fresh_session(
    recovery_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(namespace_state, "MAX_EARLY_EVENTS", 3)
    listener, heard = await listen(recovery_server, ["websocket"])
    speaker = AsyncClient()
    await speaker.connect(recovery_server, transports=["websocket"])
    try:
        await speaker.call("say", "r", ["before"])
        await wait_until(lambda: "before" in heard)
        sid = listener.sid
        listener.drop()
        await speaker.call("say", "r", [f"missed {i}" for i in range(5)])
        await wait_until(lambda: heard[-1:] == [("connect", False)], 10, 0.02, lambda: heard)
        assert listener.sid != sid and not listener.recovered
        assert [h for h in heard if isinstance(h, str)] == ["before"]  # none half-delivered
    finally:
        await listener.disconnect()
        await speaker.disconnect()


def test_the_blocking_client_recovers_too(recovery_server: str) -> None:
    heard: list[Any] = []
    arrived, dropped, back = threading.Event(), threading.Event(), threading.Event()
    with Client(reconnection_delay=0.3) as listener, Client() as speaker:
        listener.on("line", lambda text: (heard.append(text), arrived.set()))
        listener.on("disconnect", lambda reason: dropped.set())
        listener.on("connect", lambda: listener.recovered and back.set())
        listener.connect(recovery_server, transports=["polling"])
        speaker.connect(recovery_server)
        listener.call("join", "r")
        speaker.call("say", "r", ["before"])
        assert arrived.wait(5)
        sid = listener.sid
        listener.drop()
        assert dropped.wait(5)
        speaker.call("say", "r", ["missed"])
        assert back.wait(5), "a recovered connection"
        assert listener.sid == sid and listener.recovered and listener.is_recovered()
        assert listener.transport == "polling"
        assert heard == ["before", "missed"]
