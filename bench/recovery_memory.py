"""What connection state recovery keeps in memory: per disconnected session, per stored packet.

    python bench/recovery_memory.py                  # 10,000 sessions, 10,000 packets
    python bench/recovery_memory.py --sessions 2000 --rooms 5 --payload 1000

A ``jupyter_rt.Server(connection_state_recovery=True)`` on a clock that stands still gets
``--sessions`` connections (each socket joins ``--rooms`` rooms and keeps a small
``socket.data``), which all lose their transport: their sessions are kept for recovery; on
another one, ``--packets`` broadcasts of a ``--payload``-byte text go out and are kept.
``tracemalloc`` counts what the store holds (what it gives back once emptied), divided by the
sessions or the packets. Sessions and packets are what recovery adds; a connected socket costs
what it costs without it.
Prints a table (and ``--json`` a JSON line); the README quotes the default run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import sys
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout first

from jupyter_rt.clock import ManualClock
from jupyter_rt.server import RecoveryStore, Server, SessionAwareAdapter

_ids = itertools.count()


@dataclass(frozen=True)
class _Handshake:
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    remote_address: str = "127.0.0.1"
    url: str = "/socket.io/?EIO=4&transport=websocket"
    user: dict[str, object] | None = None
    issued: float = 1_700_000_000.0


class Session:
    """The little of an Engine.IO session the server uses; it drops what it is sent."""

    transport = "websocket"
    writable = True

    def __init__(self, io: Server, index: int) -> None:
        self.io = io
        self.sid = f"engine-{next(_ids)}"
        self.credential = f"user:user-{index}"
        self.handshake = _Handshake(user={"username": f"user-{index}"})
        self.closed = False
        io.on_engine_open(self)  # type: ignore[arg-type]

    def send(self, messages: Sequence[str | bytes]) -> None:
        pass

    def set_deadline(self, delay: float, reason: str, *, now: float | None = None) -> None:
        pass

    def clear_deadline(self) -> None:
        pass

    def receive(self, frame: str) -> None:
        self.io.on_engine_message(self, frame)  # type: ignore[arg-type]

    def close(self, reason: str = "transport close", *, notify: bool = True) -> None:
        if not self.closed:
            self.closed = True
            self.io.on_engine_close(self, reason)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def server() -> tuple[Server, RecoveryStore]:
    io = Server(connection_state_recovery=True, clock=ManualClock(), slow_handler_threshold=0)
    adapter = io.sockets.adapter
    assert isinstance(adapter, SessionAwareAdapter)
    return io, adapter.store


async def per_session(sessions: int, rooms: int) -> float:
    """Bytes the store gives back per disconnected session it drops."""
    io, store = server()
    room_names = [f"room-{r}" for r in range(rooms)]

    @io.on("connection")
    def on_connection(socket: Any) -> None:
        socket.join(room_names)
        socket.data["user"] = socket.handshake.user["username"]
        socket.data["joined"] = 1_700_000_000

    tracemalloc.start()  # before the sockets are made: what they leave behind is traced
    clients = [Session(io, i) for i in range(sessions)]
    for client in clients:
        client.receive("0")
    await io.emit("hello")  # each client holds an offset
    for client in clients:
        client.close("transport close")  # every transport lost: the sessions are kept
    del clients
    await settle()
    assert store.stored_sessions == sessions, store
    kept = traced()
    store.close()
    emptied = traced()
    tracemalloc.stop()
    return (kept - emptied) / sessions


async def per_packet(packets: int, payload: int) -> float:
    """Bytes the store holds per broadcast it keeps (``payload`` bytes of text in each)."""
    io, store = server()
    text = "x" * payload
    tracemalloc.start()
    before = traced()
    for i in range(packets):
        await io.to("room").emit("tick", i, text)
    kept = traced()
    assert store.stored_packets == packets, store
    store.close()
    tracemalloc.stop()
    return (kept - before) / packets


async def measure(sessions: int, rooms: int, packets: int, payload: int) -> dict[str, Any]:
    session_bytes = await per_session(sessions, rooms)
    packet_bytes = await per_packet(packets, payload)
    return {
        "sessions": sessions,
        "rooms_per_session": rooms,
        "bytes_per_session": round(session_bytes),
        "packets": packets,
        "payload_bytes": payload,
        "bytes_per_packet": round(packet_bytes),
        "packet_overhead_bytes": round(packet_bytes - payload),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rooms", type=int, default=2, help="rooms per socket (2)")
    parser.add_argument("--packets", type=int, default=10_000, help="broadcasts kept (10,000)")
    parser.add_argument("--payload", type=int, default=100, help="bytes of text per packet")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.sessions, args.rooms, args.packets, args.payload))
    print(f"{'disconnected sessions kept':32} {result['sessions']:>10,}")
    print(f"{'  rooms each':32} {result['rooms_per_session']:>10}")
    print(f"{'  bytes per session':32} {result['bytes_per_session']:>10,}")
    print(f"{'packets kept':32} {result['packets']:>10,}")
    print(f"{'  payload bytes each':32} {result['payload_bytes']:>10,}")
    print(f"{'  bytes per packet':32} {result['bytes_per_packet']:>10,}")
    print(f"{'  of which overhead':32} {result['packet_overhead_bytes']:>10,}")
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
