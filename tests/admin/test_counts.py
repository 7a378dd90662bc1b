"""The counts of ``server_stats``: per wall-clock second, in the admin-ui's shape."""

from __future__ import annotations

from typing import Any

from jupyter_rt.admin import EventCounts
from jupyter_rt.admin._counts import MAX_KEYS
from jupyter_rt.clock import ManualClock
from jupyter_rt.server import Server, Socket
from tests.server.fakes import FakeSession


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def by_type(items: list[dict[str, Any]]) -> dict[tuple[int, str, str | None], int]:
    return {(i["timestamp"], i["type"], i.get("subType")): i["count"] for i in items}


def test_messages_and_events_are_counted_and_stamped() -> None:
    wall = Wall(100.2)
    counts = EventCounts(wall)
    io = Server(clock=ManualClock())
    io.add_observer(counts)
    sockets: list[Socket] = []
    io.on("connection", sockets.append)
    a = FakeSession(io).open()
    a.connect()
    b = FakeSession(io).open()
    b.connect()
    wall.now = 101.5
    a.receive('2["hi"]')
    io.emit("news", "x" * 10)  # one frame of 17 characters, to two sockets
    b.close("transport close")
    wall.now = 102.9
    got = by_type(counts.drain())
    assert got == {  # connections when they happened, the traffic when drained
        (100_000, "rawConnection", None): 2,
        (101_000, "rawDisconnection", "transport close"): 1,
        (102_000, "packetsIn", None): 2 + 1,  # the CONNECTs, then the event
        (102_000, "bytesIn", None): 2 + len('2["hi"]'),
        (102_000, "packetsOut", None): 2,
        (102_000, "bytesOut", None): 2 * len('2["news","xxxxxxxxxx"]'),
    }
    assert counts.drain() == []  # handed over once


def test_the_table_is_bounded() -> None:
    wall = Wall(0)
    counts = EventCounts(wall)
    io = Server(clock=ManualClock())
    session = FakeSession(io)
    for second in range(MAX_KEYS + 10):
        wall.now = second
        counts.session_opened(session)  # type: ignore[arg-type]
    assert len(counts.drain()) == MAX_KEYS
