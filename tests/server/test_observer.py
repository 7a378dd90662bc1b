"""The observer seam: what ``io.add_observer`` hears of sessions, sockets, rooms and events."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.engine import EngineSession
from jupyter_rt.protocol.events import Reason
from jupyter_rt.server import Namespace, Observer, Server, Socket
from tests.server.fakes import FakeSession, settle


class Recorder(Observer):
    """Every hook call as a tuple of plain values."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def session_opened(self, session: EngineSession) -> None:
        self.calls.append(("session_opened", session.sid))

    def session_closed(self, session: EngineSession, reason: Reason) -> None:
        self.calls.append(("session_closed", session.sid, reason))

    def message_received(self, session: EngineSession, data: str | bytes) -> None:
        self.calls.append(("message_received", session.sid, data))

    def socket_connected(self, socket: Socket) -> None:
        self.calls.append(("socket_connected", socket.nsp.name, socket.id, socket.connected))

    def socket_disconnected(self, socket: Socket, reason: Reason) -> None:
        self.calls.append(("socket_disconnected", socket.nsp.name, socket.id, reason))

    def room_joined(self, nsp: Namespace, room: str, sid: str) -> None:
        self.calls.append(("room_joined", nsp.name, room, sid))

    def room_left(self, nsp: Namespace, room: str, sid: str) -> None:
        self.calls.append(("room_left", nsp.name, room, sid))

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        self.calls.append(("event_received", socket.id, list(data)))

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        ids = sorted(s.id for s in recipients)
        self.calls.append(("event_sent", nsp.name, list(data), list(frames), ids))

    def named(self, hook: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == hook]


@pytest.fixture
def recorder(io: Server) -> Recorder:
    recorder = Recorder()
    io.add_observer(recorder)
    return recorder


def connect(io: Server, nsp: str = "/") -> tuple[FakeSession, Socket]:
    sockets: list[Socket] = []
    io.of(nsp).on("connection", sockets.append)
    session = FakeSession(io).open()
    session.connect(nsp)
    return session, sockets[-1]


async def test_a_socket_life_in_order(io: Server, recorder: Recorder) -> None:
    session, socket = connect(io, "/chat")
    socket.join("Lobby")
    socket.join("Lobby")  # already in: no second call
    socket.leave("Lobby")
    socket.leave("Lobby")  # no longer in: no call
    socket.join(["A", "B"])
    session.close("transport close")
    calls = [c for c in recorder.calls if c[0] != "message_received"]
    assert calls[:7] == [
        ("session_opened", session.sid),
        ("room_joined", "/chat", socket.id, socket.id),  # its own room, then connected
        ("socket_connected", "/chat", socket.id, True),
        ("room_joined", "/chat", "Lobby", socket.id),
        ("room_left", "/chat", "Lobby", socket.id),
        ("room_joined", "/chat", "A", socket.id),
        ("room_joined", "/chat", "B", socket.id),
    ]
    # At disconnect: every room left (a set: any order), then the socket, then the session.
    assert sorted(calls[7:10]) == sorted(
        ("room_left", "/chat", r, socket.id) for r in ("A", "B", socket.id)
    )
    assert calls[10:] == [
        ("socket_disconnected", "/chat", socket.id, "transport close"),
        ("session_closed", session.sid, "transport close"),
    ]


async def test_events_in_and_out(io: Server, recorder: Recorder) -> None:
    session, socket = connect(io)
    socket.on("ping", lambda *args: None)
    session.receive('2["ping",1,{"a":2}]')
    await socket.emit("pong", b"\x01\x02")
    assert recorder.named("message_received")[-1] == (
        "message_received",
        session.sid,
        '2["ping",1,{"a":2}]',
    )
    assert recorder.named("event_received") == [
        ("event_received", socket.id, ["ping", 1, {"a": 2}])
    ]
    (sent,) = recorder.named("event_sent")
    assert sent[:3] == ("event_sent", "/", ["pong", b"\x01\x02"])
    assert sent[3] == session.frames()[-2:]  # the text frame and its attachment
    assert sent[4] == [socket.id]


async def test_a_broadcast_is_one_call_with_its_local_recipients(
    io: Server, recorder: Recorder
) -> None:
    _, a = connect(io)
    _, b = connect(io)
    connect(io)  # a third socket, not in the room
    a.join("Lobby")
    b.join("Lobby")
    recorder.calls.clear()
    await io.to("Lobby").emit("news", "hi")
    assert recorder.calls == [
        ("event_sent", "/", ["news", "hi"], ['2["news","hi"]'], sorted([a.id, b.id]))
    ]
    recorder.calls.clear()
    await io.to("Nobody").emit("news", "hi")  # nobody to send to: nothing sent, nothing told
    assert recorder.calls == []


async def test_calls_and_volatile_emits_are_told(io: Server, recorder: Recorder) -> None:
    _, socket = connect(io)
    socket.emit("job", callback=lambda *a: None)
    socket.volatile.emit("tick", 1)
    assert [c[2] for c in recorder.named("event_sent")] == [["job"], ["tick", 1]]


async def test_observers_stop_and_one_that_raises_is_logged_once(
    io: Server, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Observer):
        def socket_connected(self, socket: Socket) -> None:
            raise RuntimeError("boom")

    broken = Broken()
    io.add_observer(broken)
    io.add_observer(broken)  # once only
    with caplog.at_level(logging.ERROR, "jupyter_rt"):
        connect(io)
        connect(io)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "Observer hook Broken.socket_connected raised; ignored"
    ]
    assert len(recorder.named("socket_connected")) == 2  # the others still hear
    io.remove_observer(broken)
    io.remove_observer(recorder)
    assert io.observer is None
    connect(io)
    assert len(recorder.named("socket_connected")) == 2


async def test_sessions_lists_the_open_ones(io: Server) -> None:
    first, _ = connect(io)
    second, _ = connect(io)
    assert {s.sid for s in io.sessions} == {first.sid, second.sid}
    first.close("transport close")
    await settle()
    assert [s.sid for s in io.sessions] == [second.sid]


class Tally(Recorder):
    """A :class:`Recorder` hearing the hooks metrics need too."""

    def broadcast_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        ids = sorted(s.id for s in recipients)
        self.calls.append(("broadcast_sent", nsp.name, list(data), list(frames), ids))

    def connect_refused(self, nsp: Namespace | None, reason: str) -> None:
        self.calls.append(("connect_refused", None if nsp is None else nsp.name, reason))

    def ack_timed_out(self, nsp: Namespace) -> None:
        self.calls.append(("ack_timed_out", nsp.name))

    def handler_finished(self, nsp: str, what: str, seconds: float) -> None:
        assert seconds >= 0
        self.calls.append(("handler_finished", nsp, what))


@pytest.fixture
def tally(io: Server) -> Tally:
    tally = Tally()
    io.add_observer(tally)
    return tally


async def test_a_broadcast_is_told_as_a_broadcast(io: Server, tally: Tally) -> None:
    _, a = connect(io)
    _, b = connect(io)
    a.join("Lobby")
    tally.calls.clear()
    await io.to("Lobby").emit("news", "hi")
    await a.emit("direct", 1)  # an emit to one socket stays an event_sent
    assert tally.calls == [
        ("broadcast_sent", "/", ["news", "hi"], ['2["news","hi"]'], [a.id]),
        ("event_sent", "/", ["direct", 1], ['2["direct",1]'], [a.id]),
    ]
    assert b.id not in str(tally.calls)


async def test_refused_connects_say_why_and_never_the_clients_name(
    io: Server, tally: Tally
) -> None:
    from jupyter_rt.errors import ConnectionRefused

    guarded = io.of("/guarded")

    @guarded.use
    def guard(socket: Socket) -> None:
        if socket.handshake.auth.get("broken"):
            raise RuntimeError("bug")
        raise ConnectionRefused("no")

    session = FakeSession(io).open()
    session.connect("/made-up-by-the-client")
    session.connect("/guarded")
    session.connect("/guarded", {"broken": True})
    assert tally.named("connect_refused") == [
        ("connect_refused", None, "invalid_namespace"),
        ("connect_refused", "/guarded", "refused"),
        ("connect_refused", "/guarded", "middleware_error"),
    ]
    crowded = Server(max_namespaces_per_client=1)
    crowded.add_observer(tally)
    crowded.of("/a")
    crowded.of("/b")
    two = FakeSession(crowded).open()
    two.connect("/a")
    two.connect("/b")
    assert tally.named("connect_refused")[-1] == ("connect_refused", None, "too_many_namespaces")


async def test_acks_that_time_out_are_told(io: Server, tally: Tally, clock: ManualClock) -> None:
    from jupyter_rt.errors import AckTimeout

    session, socket = connect(io, "/jobs")
    asked = asyncio.ensure_future(socket.call("job", timeout=2))
    broadcast = asyncio.ensure_future(io.of("/jobs").timeout(2).call("all"))
    await settle()
    clock.advance(1)
    await settle()
    assert tally.named("ack_timed_out") == []
    clock.advance(1.5)
    await settle()
    for call in (asked, broadcast):
        with pytest.raises(AckTimeout):
            await call
    assert tally.named("ack_timed_out") == [("ack_timed_out", "/jobs")] * 2
    answered = asyncio.ensure_future(socket.call("job", timeout=2))
    await settle()
    (last,) = [p for p in session.packets() if p.data == ["job"]][-1:]
    session.receive(f"3/jobs,{last.id}[true]")
    assert await answered is True
    clock.advance(3)
    assert len(tally.named("ack_timed_out")) == 2


async def test_handlers_are_timed_sync_async_and_failing(io: Server, tally: Tally) -> None:
    session, socket = connect(io, "/work")
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    def broken() -> None:
        raise ValueError("bug")

    socket.on("quick", lambda: "ok")
    socket.on("slow", slow)
    socket.on("broken", broken)
    session.receive('2/work,["quick"]', '2/work,["broken"]', '2/work,["slow"]')
    await settle()
    assert tally.named("handler_finished") == [("handler_finished", "/work", "handler")] * 2
    gate.set()
    await settle()
    assert len(tally.named("handler_finished")) == 3
    io.remove_observer(tally)
    session.receive('2/work,["quick"]')
    assert len(tally.named("handler_finished")) == 3  # no observer: not timed
