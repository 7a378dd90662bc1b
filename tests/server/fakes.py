"""A fake Engine.IO session for server tests: records what the server sends."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jupyter_rt.protocol.socketio import Decoder, Packet, PacketType
from jupyter_rt.server import Server, Socket

_ids = itertools.count()


@dataclass(frozen=True)
class FakeHandshake:
    headers: Mapping[str, str] = field(default_factory=lambda: {"origin": "http://localhost"})
    query: Mapping[str, str] = field(default_factory=lambda: {"EIO": "4", "x": "1"})
    remote_address: str = "127.0.0.1"
    url: str = "/socket.io/?EIO=4&transport=websocket"
    user: Mapping[str, object] | None = None
    issued: float = 1_700_000_000.0


class FakeSession:
    """What the server sees of an Engine.IO session; ``close`` calls back like the real one."""

    def __init__(
        self,
        io: Server,
        transport: str = "websocket",
        credential: str | None = None,
        **handshake: Any,
    ) -> None:
        self.io = io
        self.sid = f"engine-{next(_ids)}"
        self.credential = credential
        """Who opened the session (the engine's opaque credential; ``None``: no auth)."""
        self.transport = transport
        self.handshake = FakeHandshake(**handshake)
        self.closed = False
        self.close_reason: str | None = None
        self.close_notify: bool | None = None
        self.sent: list[list[str | bytes]] = []
        self.batches: list[Sequence[str | bytes]] = []
        self.writable = True
        self.deadline: tuple[float, str] | None = None
        """``(delay, reason)`` of the pending ``set_deadline``; :meth:`expire` fires it."""

    def send(self, messages: Sequence[str | bytes]) -> None:
        if self.closed:
            return
        self.batches.append(messages)
        self.sent.append(list(messages))

    def close(self, reason: str = "forced close", *, notify: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self.close_notify = notify
        self.io.on_engine_close(self, reason)

    def set_deadline(self, delay: float, reason: str, *, now: float | None = None) -> None:
        if not self.closed:
            self.deadline = (delay, reason)

    def clear_deadline(self) -> None:
        self.deadline = None

    # -- test helpers --------------------------------------------------------------------------

    def expire(self) -> None:
        """The pending deadline passes (the real engine then closes the session with CLOSE)."""
        assert self.deadline is not None
        _, reason = self.deadline
        self.deadline = None
        self.close(reason)

    def open(self) -> FakeSession:
        self.io.on_engine_open(self)
        return self

    def receive(self, *frames: str | bytes) -> None:
        for frame in frames:
            self.io.on_engine_message(self, frame)

    def frames(self) -> list[str | bytes]:
        return [f for batch in self.sent for f in batch]

    def texts(self) -> list[str]:
        return [f for f in self.frames() if isinstance(f, str)]

    def packets(self) -> list[Packet]:
        decoder = Decoder()
        out = []
        for frame in self.frames():
            packet = decoder.feed(frame)
            if packet is not None:
                out.append(packet)
        return out

    def events(self, nsp: str = "/") -> list[list[Any]]:
        return [
            p.data
            for p in self.packets()
            if p.nsp == nsp and p.type in (PacketType.EVENT, PacketType.BINARY_EVENT)
        ]

    def clear(self) -> None:
        self.sent.clear()
        self.batches.clear()

    def connect(self, nsp: str = "/", auth: dict[str, Any] | None = None) -> str | None:
        """Send a namespace CONNECT; return the socket id of the reply, if one came."""
        prefix = "" if nsp == "/" else nsp + ","
        self.receive("0" + prefix + (json.dumps(auth) if auth is not None else ""))
        for packet in self.packets():
            if packet.type == PacketType.CONNECT and packet.nsp == nsp:
                sid = packet.data["sid"]
                assert isinstance(sid, str)
                return sid
        return None


def connected(io: Server, client: Any, nsp: str = "/") -> tuple[FakeSession, Socket]:
    """Connect a fresh ``client()`` session to ``nsp``; its outbox cleared, and the socket."""
    sockets: list[Socket] = []
    io.of(nsp).on("connection", sockets.append)
    session = client()
    session.connect(nsp)
    session.clear()
    return session, sockets[-1]


async def settle(rounds: int = 5) -> None:
    """Let spawned handler tasks run."""
    for _ in range(rounds):
        await asyncio.sleep(0)
