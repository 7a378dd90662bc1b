"""Connection state recovery under random drops and reconnects (property-based).

Peers behave as the official clients: each keeps its ``pid`` and the offset of the last event
it processed, and sends both when it connects again. A drop loses the packets still in flight
(sent by the server, not yet processed). Whatever happens, every event a peer processes is the
next one owed to it: nothing lost while its session is recovered, nothing twice, order kept;
only a fresh session (recovery refused) forgives what was owed to the old one. And within the
duration and the caps, a peer holding an offset is always recovered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import event as statistic
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_rt.clock import ManualClock
from jupyter_rt.server import Server, Socket
from tests.server.fakes import FakeSession, settle

DURATION = 60.0
ROOMS = ("a", "b")


@dataclass
class Peer:
    rooms: tuple[str, ...]
    session: FakeSession | None = None
    socket: Socket | None = None
    """The server's socket of its current (or last) logical session."""
    pid: str | None = None
    offset: str | None = None
    read: int = 0
    owed: list[int] = field(default_factory=list)
    got: list[int] = field(default_factory=list)
    recoveries: int = 0
    fresh_after_drop: int = 0
    dropped_at: float | None = None

    @property
    def connected(self) -> bool:
        return self.session is not None and not self.session.closed


def process(peer: Peer, limit: int | None = None) -> None:
    """Take up to ``limit`` of the frames that arrived, checking each event against what is
    owed to the peer."""
    assert peer.session is not None
    frames = peer.session.texts()
    end = len(frames) if limit is None else min(len(frames), peer.read + limit)
    for frame in frames[peer.read : end]:
        peer.read += 1
        if not frame.startswith("2"):
            continue
        data = json.loads(frame[1:])
        if data[0] == "volatile":
            continue
        event_id = data[1]
        assert peer.owed, f"event {event_id} was not owed (a duplicate?)"
        assert event_id == peer.owed[0], f"got {event_id}, owed {peer.owed[:5]}"
        peer.owed.pop(0)
        peer.got.append(event_id)
        assert isinstance(data[-1], str)
        peer.offset = data[-1]


operation = st.one_of(
    st.tuples(st.just("emit"), st.sampled_from(["all", "a", "b", "direct"]), st.integers(0, 2)),
    st.tuples(st.just("volatile"), st.sampled_from(["all", "a"]), st.integers(0, 2)),
    # (what, how many frames the peer takes first (3: all), which peer)
    st.tuples(st.just("process"), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("drop"), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("reconnect"), st.just(0), st.integers(0, 2)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, DURATION / 2, DURATION]), st.just(0)),
)


async def scenario(
    rooms: list[tuple[str, ...]], ops: list[tuple[str, Any, Any]], caps: dict[str, int]
) -> list[Peer]:
    clock = ManualClock(1000.0)
    start = clock.now()
    io = Server(
        clock=clock,
        connection_state_recovery=True,
        max_disconnection_duration=DURATION,
        **caps,
    )
    peers = [Peer(r) for r in rooms]
    by_auth: dict[int, Peer] = {}

    @io.on("connection")
    def on_connection(socket: Socket) -> None:
        peer = by_auth[socket.handshake.auth["peer"]]
        peer.socket = socket
        if not socket.recovered:
            socket.join(list(peer.rooms))

    async def connect(index: int) -> None:
        peer = peers[index]
        by_auth[index] = peer
        peer.session = FakeSession(io, credential=f"user:{index}").open()
        peer.read = 0
        auth: dict[str, Any] = {"peer": index}
        if peer.pid is not None and peer.offset is not None:
            auth.update(pid=peer.pid, offset=peer.offset)
        old = peer.socket.id if peer.socket is not None else None
        peer.session.receive("0" + json.dumps(auth))
        await settle()
        # The missed events come first (as in Node), then the CONNECT reply; process() reads
        # the events and skips the reply.
        [reply] = [json.loads(t[1:]) for t in peer.session.texts() if t.startswith("0")]
        peer.pid = reply["pid"]
        assert peer.socket is not None and peer.socket.id == reply["sid"]
        if peer.socket.recovered:
            assert reply["sid"] == old
            peer.recoveries += 1
        else:
            if old is not None:
                peer.fresh_after_drop += 1
                in_time = clock.now() - start < DURATION  # no packet or session expired yet
                generous = not caps
                # Within the time and the caps, an offset always recovers.
                assert not (generous and in_time and "offset" in auth), "not recovered"
            peer.owed.clear()  # a fresh session: what the old one was owed is forgiven
            peer.offset = None
        peer.dropped_at = None

    for index in range(len(peers)):
        await connect(index)
    await io.emit("e", 0)  # so that each peer holds an offset from the start
    for peer in peers:
        peer.owed.append(0)
        process(peer)

    next_id = 0
    for op, arg, n in ops:
        peer = peers[n % len(peers)] if op in ("process", "drop", "reconnect") else None
        if op in ("emit", "volatile"):
            next_id += 1
            target = peers[n % len(peers)]
            event = "volatile" if op == "volatile" else "e"
            if arg == "direct":
                assert target.socket is not None
                await target.socket.emit(event, next_id)
                owed_to = [target]
            elif arg == "all":
                await (io.volatile if op == "volatile" else io.sockets).emit(event, next_id)
                owed_to = peers
            else:
                broadcast = io.to(arg)
                await (broadcast.volatile if op == "volatile" else broadcast).emit(event, next_id)
                owed_to = [p for p in peers if arg in p.rooms]
            if op == "emit":
                for p in owed_to:
                    p.owed.append(next_id)
        elif op == "process" and peer is not None and peer.connected:
            process(peer, None if arg == 3 else arg)
        elif op == "drop" and peer is not None and peer.connected:
            # What arrived before the connection broke is taken; the rest is lost in flight.
            process(peer, None if arg == 3 else arg)
            assert peer.session is not None
            peer.session.close("transport close")
            peer.dropped_at = clock.now()
            await settle()
        elif op == "reconnect" and peer is not None and not peer.connected:
            await connect(peers.index(peer))
        elif op == "wait":
            clock.advance(arg)

    for index, peer in enumerate(peers):  # everyone back, everything read
        if not peer.connected:
            await connect(index)
        process(peer)
        assert peer.owed == [], f"peer {index} never got {peer.owed}"
    await io.close()
    return peers


def describe(peers: list[Peer]) -> None:
    """What the example exercised (``pytest --hypothesis-show-statistics``)."""
    statistic(f"recovered {min(sum(p.recoveries for p in peers), 5)} times")
    statistic(f"fresh after a drop {min(sum(p.fresh_after_drop for p in peers), 3)} times")


@settings(max_examples=150, deadline=None)
@given(
    rooms=st.lists(st.sets(st.sampled_from(ROOMS)).map(tuple), min_size=1, max_size=3),
    ops=st.lists(operation, min_size=10, max_size=80),
)
def test_no_loss_no_duplicate_order_kept(
    rooms: list[tuple[str, ...]], ops: list[tuple[str, Any, Any]]
) -> None:
    describe(asyncio.run(scenario(rooms, ops, {})))


@settings(max_examples=150, deadline=None)
@given(
    rooms=st.lists(st.sets(st.sampled_from(ROOMS)).map(tuple), min_size=1, max_size=3),
    ops=st.lists(operation, min_size=10, max_size=80),
    caps=st.fixed_dictionaries(
        {
            "max_missed_packets": st.integers(1, 4),
            "max_stored_packets": st.integers(1, 8),
            "max_stored_sessions": st.integers(1, 2),
        }
    ),
)
def test_tight_caps_give_fresh_sessions_never_partial_ones(
    rooms: list[tuple[str, ...]], ops: list[tuple[str, Any, Any]], caps: dict[str, int]
) -> None:
    describe(asyncio.run(scenario(rooms, ops, caps)))


def test_the_scenario_sees_recoveries_and_fresh_sessions() -> None:
    """The properties above are not empty: drops recover, and an expired session is fresh."""
    ops = [
        ("emit", "all", 0),
        ("emit", "a", 0),
        ("process", 1, 0),
        ("drop", 0, 0),  # the second event is lost in flight
        ("emit", "all", 0),
        ("emit", "direct", 0),
        ("volatile", "all", 0),
        ("reconnect", 0, 0),
        ("process", 3, 0),
        ("drop", 3, 0),
        ("wait", DURATION, 0),
        ("reconnect", 0, 0),
    ]
    [peer] = asyncio.run(scenario([("a",)], ops, {}))
    assert peer.recoveries == 1 and peer.fresh_after_drop == 1
    assert peer.got == [0, 1, 2, 3, 4]
