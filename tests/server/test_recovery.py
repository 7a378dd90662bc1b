"""Connection state recovery in one server: what a client that lost its connection gets back."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import ConnectionStateRecovery, Options
from jupyter_rt.protocol.socketio import PacketType
from jupyter_rt.server import (
    MemoryAdapter,
    Namespace,
    RecoveryStore,
    Server,
    Session,
    SessionAwareAdapter,
    SessionToPersist,
    Socket,
)
from tests.server.fakes import FakeSession, settle

DURATION = 120.0


class Peer:
    """One client as the official ones behave: it keeps the ``pid`` of its CONNECT reply and
    the last offset of the events it processed, and sends both when it connects again."""

    def __init__(self, io: Server, nsp: str = "/", credential: str | None = "user:ada") -> None:
        self.io = io
        self.nsp = nsp
        self.credential = credential
        self.pid: str | None = None
        self.offset: str | None = None
        self.sid: str | None = None
        self.session: FakeSession | None = None
        self.seen = 0
        self.got: list[list[Any]] = []
        """Every event processed, over all its connections, offsets stripped."""

    async def connect(self, **auth: Any) -> FakeSession:
        """Open a new session and CONNECT (recovering if it can); let the server answer."""
        self.session = session = FakeSession(self.io, credential=self.credential).open()
        self.seen = 0
        if self.pid is not None and self.offset is not None:
            auth = {"pid": self.pid, "offset": self.offset, **auth}
        prefix = "" if self.nsp == "/" else self.nsp + ","
        session.receive("0" + prefix + (json.dumps(auth) if auth else ""))
        await settle()
        return session

    def reply(self) -> dict[str, Any]:
        """The CONNECT reply's data (asserts there is one)."""
        assert self.session is not None
        [data] = [
            p.data
            for p in self.session.packets()
            if p.type == PacketType.CONNECT and p.nsp == self.nsp
        ]
        assert isinstance(data, dict)
        self.sid, self.pid = data["sid"], data.get("pid")
        return data

    def process(self) -> list[list[Any]]:
        """The events that came since the last call, offsets stripped, as the JS client does:
        a string last argument is remembered as the offset."""
        assert self.session is not None
        events = self.session.events(self.nsp)
        new = events[self.seen :]
        self.seen = len(events)
        out = []
        for data in new:
            if self.pid is not None and isinstance(data[-1], str) and len(data) > 1:
                self.offset = data[-1]
                data = data[:-1]
            out.append(data)
        self.got.extend(out)
        return out

    def drop(self, reason: str = "transport close") -> None:
        assert self.session is not None
        self.session.close(reason)


@pytest.fixture
def io(clock: ManualClock) -> Server:
    return Server(connect_timeout=5, clock=clock, connection_state_recovery=True)


def sockets_of(nsp: Namespace) -> list[Socket]:
    seen: list[Socket] = []
    nsp.on("connection", seen.append)
    return seen


def store_of(io: Server) -> RecoveryStore:
    adapter = io.sockets.adapter
    assert isinstance(adapter, SessionAwareAdapter)
    return adapter.store


async def connected_peer(io: Server, nsp: str = "/", **kwargs: Any) -> Peer:
    """A peer connected to ``nsp`` that got one event, so it holds an offset."""
    peer = Peer(io, nsp, **kwargs)
    await peer.connect()
    peer.reply()
    await io.of(nsp).to(peer.sid or "").emit("hello")
    assert peer.process() == [["hello"]]
    return peer


# -- off by default ------------------------------------------------------------------------------


async def test_off_by_default_no_pid_no_offsets_and_the_adapter_is_never_asked(
    clock: ManualClock,
) -> None:
    calls: list[str] = []

    class Watching(MemoryAdapter):
        async def persist_session(self, session: SessionToPersist) -> None:
            calls.append("persist")

        async def restore_session(self, pid: str, offset: str) -> Session | None:
            calls.append("restore")
            return None

    io = Server(adapter=Watching, clock=clock)
    assert Options().connection_state_recovery is False and io.recovery is None
    seen = sockets_of(io.sockets)
    session = FakeSession(io).open()
    session.receive('0{"pid":"foo","offset":"bar"}')
    [reply] = [p.data for p in session.packets() if p.type == PacketType.CONNECT]
    assert set(reply) == {"sid"}
    await io.emit("hello", "x")
    await seen[0].emit("direct", "y")
    assert session.events() == [["hello", "x"], ["direct", "y"]]
    # Without recovery the auth reaches the app as the client sent it.
    assert seen[0].handshake.auth == {"pid": "foo", "offset": "bar"}
    assert seen[0].pid is None and seen[0].recovered is False
    session.close("transport close")
    await settle()
    assert calls == []


async def test_the_default_adapter_with_recovery_is_session_aware() -> None:
    io = Server(connection_state_recovery=True)
    assert isinstance(io.sockets.adapter, SessionAwareAdapter)
    assert io.recovery == ConnectionStateRecovery()
    # Node's way, as one object: it turns recovery on with its settings.
    tuned = Server(connection_state_recovery=ConnectionStateRecovery(60, skip_middlewares=False))
    assert tuned.options.connection_state_recovery is True
    assert (tuned.options.max_disconnection_duration, tuned.options.skip_middlewares) == (60, False)
    with pytest.raises(ValueError, match="max_disconnection_duration"):
        Server(connection_state_recovery=True, max_disconnection_duration=0)
    with pytest.raises(ValueError, match="max_missed_packets"):
        Server(max_missed_packets=0)


# -- what a client gets back ---------------------------------------------------------------------


async def test_restores_the_session_and_the_missed_packets_in_order_once(io: Server) -> None:
    seen = sockets_of(io.sockets)
    io.on("connection", lambda s: None if s.recovered else s.join("room1"))
    peer = await connected_peer(io)
    first = seen[0]
    reply = peer.reply()
    assert set(reply) == {"sid", "pid"} and reply["pid"] != reply["sid"]
    peer.drop()
    await settle()

    await io.emit("hello1")  # a broadcast
    await io.to("room1").emit("hello2")  # to a room it was in
    await first.emit("hello3")  # to the socket itself, while it is away
    await io.to("elsewhere").emit("not for it")
    await io.volatile.emit("volatile")

    session = await peer.connect()
    assert peer.reply() == reply  # same sid and pid
    # As in Node, the missed events come first, then the CONNECT reply.
    texts = session.texts()
    assert texts.index(f'0{{"sid":"{reply["sid"]}","pid":"{reply["pid"]}"}}') == 3
    assert all(text.startswith("2[") for text in texts[:3])
    assert peer.process() == [["hello1"], ["hello2"], ["hello3"]]
    assert peer.got == [["hello"], ["hello1"], ["hello2"], ["hello3"]]
    await io.emit("after")
    assert peer.process() == [["after"]]
    # The offsets the client got are strings, the last argument of each event, all different.
    offsets = [data[-1] for data in session.events()]
    assert len(set(offsets)) == len(offsets) and all(isinstance(o, str) for o in offsets)


async def test_rooms_data_and_socket_id_come_back_and_recovered_is_true(io: Server) -> None:
    seen = sockets_of(io.sockets)

    @io.on("connection")
    def on_connection(socket: Socket) -> None:
        if not socket.recovered:
            socket.join(["room1", "room2"])
            socket.data["foo"] = "bar"

    peer = await connected_peer(io)
    assert seen[0].recovered is False
    peer.drop("ping timeout")
    await settle()
    await peer.connect()
    peer.reply()
    again = seen[-1]
    assert again is not seen[0]
    assert again.id == seen[0].id and again.recovered is True
    assert again.rooms == {again.id, "room1", "room2"}
    assert again.data == {"foo": "bar"}
    assert io.sockets.adapter.sockets(["room2"]) == {again.id}
    # The app sees the auth without the fields recovery reads.
    assert again.handshake.auth == {}


async def test_missed_packets_come_before_what_the_connection_handler_sends(io: Server) -> None:
    @io.on("connection")
    def greet(socket: Socket) -> None:
        socket.emit("welcome", socket.recovered)

    peer = Peer(io)
    await peer.connect()
    peer.reply()
    assert peer.process() == [["welcome", False]]
    peer.drop()
    await settle()
    await io.emit("missed")
    await peer.connect()
    assert peer.process() == [["missed"], ["welcome", True]]


async def test_binary_packets_are_replayed_with_their_attachments(io: Server) -> None:
    peer = await connected_peer(io)
    peer.drop()
    await settle()
    await io.emit("blob", b"\x00\xff", {"n": b"\x01"})
    await peer.connect()
    assert peer.process() == [["blob", b"\x00\xff", {"n": b"\x01"}]]


async def test_a_dynamic_child_namespace_recovers_after_it_was_dropped(io: Server) -> None:
    import re

    parent = io.of(re.compile(r"^/doc-\d+$"))
    seen = sockets_of(parent)
    peer = await connected_peer(io, "/doc-1")
    peer.drop()
    await settle()
    assert "/doc-1" not in io.namespaces  # empty: cleaned up
    await parent.emit("to every doc")  # no child now: nobody, nothing kept
    await peer.connect()
    assert peer.reply()["sid"] == seen[0].id
    assert seen[-1].recovered is True


# -- not stored ----------------------------------------------------------------------------------


async def test_volatile_packets_and_packets_with_acks_carry_no_offset_and_are_not_kept(
    io: Server,
) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    socket = seen[0]
    store = store_of(io)
    kept = store.stored_packets
    session = peer.session
    assert session is not None
    session.clear()
    await io.volatile.emit("v1", 1)
    await socket.volatile.emit("v2", 2)
    await socket.emit("asked", 3, callback=lambda *a: None)
    asking = asyncio.ensure_future(io.timeout(5).call("all", 4))
    await settle()
    assert [p.data for p in session.packets()] == [["v1", 1], ["v2", 2], ["asked", 3], ["all", 4]]
    assert [p.id is not None for p in session.packets()] == [False, False, True, True]
    assert store.stored_packets == kept
    asking.cancel()
    peer.drop()
    await settle()
    await peer.connect()
    assert peer.process() == []


# -- a fresh session, never an error -------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        {"pid": "foo", "offset": "bar"},  # unknown
        {"pid": "x" * 65, "offset": "y"},  # too long: not even looked up
        {"pid": 1, "offset": 2},
        {"pid": "foo"},  # no offset: as in Node, no recovery
    ],
)
async def test_an_unknown_pid_gives_a_fresh_session(io: Server, auth: dict[str, Any]) -> None:
    seen = sockets_of(io.sockets)
    session = FakeSession(io).open()
    session.receive("0" + json.dumps(auth))
    await settle()
    [reply] = [p.data for p in session.packets() if p.type == PacketType.CONNECT]
    assert reply["sid"] != auth["pid"] and reply["pid"] != auth["pid"]
    assert seen[0].recovered is False and not session.closed


@pytest.mark.parametrize(
    "offset",
    ["garbage", "", "future", "other server", "1" * 64, "\u00b2"],
)
async def test_a_bad_offset_gives_a_fresh_session(io: Server, offset: str) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    assert peer.offset is not None
    prefix, _, number = peer.offset.rpartition("-")
    peer.offset = {
        "future": f"{prefix}-{int(number) + 5}",
        "other server": f"Zz9Zz9Zz-{number}",
        "\u00b2": f"{prefix}-\u00b2",
    }.get(offset, offset)
    peer.drop()
    await settle()
    await peer.connect()
    reply = peer.reply()
    assert reply["sid"] != seen[0].id
    assert seen[-1].recovered is False and not peer.session.closed  # type: ignore[union-attr]


async def test_a_session_expires_after_max_disconnection_duration(
    io: Server, clock: ManualClock
) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    peer.drop()
    await settle()
    clock.advance(DURATION - 1)
    pid, offset = peer.pid, peer.offset
    await peer.connect()  # in time
    assert seen[-1].recovered is True
    peer.drop()
    await settle()
    clock.advance(DURATION)
    await peer.connect()  # too late
    assert seen[-1].recovered is False and seen[-1].id != seen[0].id
    assert (pid, offset) != (None, None)


async def test_time_empties_the_store(io: Server, clock: ManualClock) -> None:
    store = store_of(io)
    peer = await connected_peer(io)
    peer.drop()
    await settle()
    for i in range(5):
        await io.emit("x", i)
    assert (store.stored_sessions, store.stored_packets) == (1, 6)
    clock.advance(DURATION * 9 / 8 + 0.001)
    assert (store.stored_sessions, store.stored_packets) == (0, 0)
    assert store.counts["expired_sessions"] == 1 and store.counts["expired_packets"] == 6
    assert clock.pending == 0  # no timer left once there is nothing to expire


@pytest.mark.parametrize("reason", ["client namespace disconnect", "server namespace disconnect"])
async def test_a_socket_that_left_on_purpose_is_not_kept(io: Server, reason: str) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    session = peer.session
    assert session is not None
    if reason == "client namespace disconnect":
        session.receive("1")
    else:
        seen[0].disconnect()
    await settle()
    assert store_of(io).stored_sessions == 0
    await peer.connect()
    assert seen[-1].recovered is False


# -- a pid is bound to the credentials that opened it --------------------------------------------


async def test_another_users_credentials_get_a_fresh_session_and_the_owner_still_recovers(
    io: Server, caplog: pytest.LogCaptureFixture
) -> None:
    seen = sockets_of(io.sockets)
    io.on("connection", lambda s: None if s.recovered else s.join("secret room"))
    owner = await connected_peer(io, credential="user:ada")
    owner.drop()
    await settle()
    await io.to("secret room").emit("for ada only")

    thief = Peer(io, credential="user:eve")
    thief.pid, thief.offset = owner.pid, owner.offset
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        await thief.connect()
        await settle()
    assert thief.reply()["sid"] != seen[0].id
    assert seen[-1].recovered is False
    assert thief.process() == []  # none of what the owner missed
    [line] = [r.getMessage() for r in caplog.records if "other credentials" in r.getMessage()]
    assert str(owner.pid) not in line  # the capability never reaches a log

    anonymous = Peer(io, credential=None)
    anonymous.pid, anonymous.offset = owner.pid, owner.offset
    await anonymous.connect()
    await settle()
    assert seen[-1].recovered is False

    await owner.connect()
    assert owner.reply()["sid"] == seen[0].id and seen[-1].recovered is True
    assert owner.process() == [["for ada only"]]


async def test_without_auth_any_connection_may_recover(io: Server) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io, credential=None)
    peer.drop()
    await settle()
    peer.credential = "token:abc"  # a session opened with no credential is not bound
    await peer.connect()
    assert seen[-1].recovered is True


# -- middleware ----------------------------------------------------------------------------------


async def test_middleware_is_skipped_on_recovery_by_default(io: Server) -> None:
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    calls: list[str] = []

    @io.use
    def mark(socket: Socket) -> None:
        calls.append(socket.id)
        socket.data["middleware"] = True

    peer.drop()
    await settle()
    await peer.connect()
    assert seen[-1].recovered is True and "middleware" not in seen[-1].data
    assert calls == []


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_middleware_runs_on_recovery_when_asked_and_nothing_is_missed_meanwhile(
    clock: ManualClock, kind: str
) -> None:
    io = Server(
        clock=clock, connection_state_recovery=ConnectionStateRecovery(skip_middlewares=False)
    )
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    gate = asyncio.Event()
    views: list[tuple[str, bool]] = []

    if kind == "sync":

        @io.use
        def mark(socket: Socket) -> None:
            views.append((socket.id, socket.recovered))
            socket.data["middleware"] = True

    else:

        @io.use
        async def mark_later(socket: Socket) -> None:
            views.append((socket.id, socket.recovered))
            await gate.wait()
            socket.data["middleware"] = True

    peer.drop()
    await settle()
    await io.emit("before")
    await peer.connect()
    await settle()
    await io.emit("during")  # while an async middleware waits
    gate.set()
    await settle()
    assert views == [(seen[0].id, True)]
    assert seen[-1].recovered is True and seen[-1].data == {"middleware": True}
    assert peer.process() == [["before"], ["during"]]
    await io.emit("after")
    assert peer.process() == [["after"]]


async def test_middleware_may_refuse_a_recovering_socket(clock: ManualClock) -> None:
    io = Server(clock=clock, connection_state_recovery=True, skip_middlewares=False)
    peer = await connected_peer(io)

    @io.use
    def refuse(socket: Socket) -> None:
        raise ConnectionRefused("token expired")

    peer.drop()
    await settle()
    session = await peer.connect()
    assert session.texts() == ['4{"message":"token expired"}']


async def test_a_client_lost_again_while_coming_back_can_come_back_later(
    clock: ManualClock,
) -> None:
    io = Server(clock=clock, connection_state_recovery=True, skip_middlewares=False)
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    gate = asyncio.Event()

    @io.use
    async def slow(socket: Socket) -> None:
        await gate.wait()

    peer.drop()
    await settle()
    await io.emit("one")
    await peer.connect()
    await settle()
    peer.drop()  # gone again while the middleware waits
    gate.set()
    await settle()
    await io.emit("two")
    await peer.connect()
    await settle()
    assert peer.reply()["sid"] == seen[0].id and seen[-1].recovered is True
    assert peer.process() == [["one"], ["two"]]


# -- memory: caps, counted and logged ------------------------------------------------------------


async def test_a_socket_that_missed_too_much_gets_a_fresh_session(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    io = Server(clock=clock, connection_state_recovery=True, max_missed_packets=3)
    seen = sockets_of(io.sockets)
    peer = await connected_peer(io)
    other = await connected_peer(io)
    peer.drop()
    other.drop()
    await settle()
    await io.to(peer.sid or "").emit("a")
    for i in range(3):
        await io.to(other.sid or "").emit("b", i)
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        await peer.connect()  # missed 1
        await other.connect()  # missed 3, the cap: still fine
        assert [s.recovered for s in seen[-2:]] == [True, True]
        other.drop()
        await settle()
        await io.to(other.sid or "").emit("b", 3)
        await other.connect()  # missed 4: more than the cap
    assert seen[-1].recovered is False
    assert store_of(io).counts["overflowed_sessions"] == 1
    assert any("max_missed_packets" in r.getMessage() for r in caplog.records)


async def test_the_total_packet_cap_drops_the_oldest_counts_and_logs_once_a_minute(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    io = Server(clock=clock, connection_state_recovery=True, max_stored_packets=5)
    seen = sockets_of(io.sockets)
    store = store_of(io)
    early = await connected_peer(io)
    early.drop()
    await settle()
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        for i in range(10):
            await io.emit("x", i)
    assert store.stored_packets == 5 and store.counts["evicted_packets"] == 6
    lines = [r.getMessage() for r in caplog.records if "max_stored_packets" in r.getMessage()]
    assert len(lines) == 1
    await early.connect()  # it missed packets that are gone: a fresh session, not a partial one
    assert seen[-1].recovered is False and early.process() == []
    late = await connected_peer(io)  # its offset is among the kept ones: it recovers
    late.drop()
    await settle()
    await io.emit("y")
    await late.connect()
    assert seen[-1].recovered is True and late.process() == [["y"]]


async def test_the_session_cap_drops_the_oldest_disconnected_sessions(clock: ManualClock) -> None:
    io = Server(clock=clock, connection_state_recovery=True, max_stored_sessions=2)
    seen = sockets_of(io.sockets)
    peers = [await connected_peer(io) for _ in range(3)]
    for peer in peers:
        peer.drop()
        await settle()
    store = store_of(io)
    assert store.stored_sessions == 2 and store.counts["evicted_sessions"] == 1
    for peer in peers:
        await peer.connect()
    assert [s.recovered for s in seen[-3:]] == [False, True, True]


async def test_the_store_is_shared_by_the_namespaces_and_emptied_at_close(io: Server) -> None:
    chat = io.of("/chat")
    assert isinstance(chat.adapter, SessionAwareAdapter)
    assert chat.adapter.store is store_of(io)
    peer = await connected_peer(io, "/chat")
    peer.drop()
    await settle()
    assert store_of(io).stored_sessions == 1
    await connected_peer(io)  # still connected: shut down, nothing kept for it either
    await io.close()
    await settle()
    assert (store_of(io).stored_sessions, store_of(io).stored_packets) == (0, 0)


async def test_a_pid_of_one_namespace_does_not_recover_another(io: Server) -> None:
    io.of("/a")
    seen = sockets_of(io.of("/b"))
    peer = await connected_peer(io, "/a")
    peer.drop()
    await settle()
    peer.nsp = "/b"
    await peer.connect()
    assert seen[-1].recovered is False


def test_an_adapter_made_without_a_store_keeps_its_own(clock: ManualClock) -> None:
    io = Server(clock=clock, connection_state_recovery=True, adapter=SessionAwareAdapter)
    a, b = io.of("/a").adapter, io.of("/b").adapter
    assert isinstance(a, SessionAwareAdapter) and isinstance(b, SessionAwareAdapter)
    assert a.store is not b.store


async def test_an_adapter_that_keeps_no_sessions_is_reported_and_emits_go_straight(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    io = Server(clock=clock, connection_state_recovery=True, adapter=MemoryAdapter)
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        await io.ready()
    assert any("keeps no sessions" in r.getMessage() for r in caplog.records)
    seen = sockets_of(io.sockets)
    peer = Peer(io)
    await peer.connect()
    assert set(peer.reply()) == {"sid", "pid"}  # as Node, whatever the adapter
    await seen[0].emit("direct", 1)
    assert peer.process() == [["direct", 1]]  # no offset: nothing is kept
    peer.drop()
    await settle()
    await peer.connect()
    assert seen[-1].recovered is False


def test_a_sessions_repr_shows_neither_its_private_id_nor_its_credential() -> None:
    kept = SessionToPersist("public-id", "private-id", frozenset({"a"}), {}, "token:hash")
    text = repr(kept) + repr(Session("public-id", "private-id", credential="token:hash"))
    assert "public-id" in text
    assert "private-id" not in text and "token:hash" not in text
