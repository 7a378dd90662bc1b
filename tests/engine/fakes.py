"""Fakes for driving the Sans-I/O engine: a WebSocket transport, a listener and a polling GET.

Time is a plain float passed as ``now``; nothing here runs an event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from jupyter_rt.engine import Engine, EngineSession, Handshake

T0 = 1000.0


class FakeTransport:
    """Records frames written and whether it was closed; ``buffered_amount`` is settable."""

    def __init__(self) -> None:
        self.frames: list[str | bytes] = []
        self.buffered_amount = 0
        self.closed = False
        self.close_calls = 0
        self.writes_after_close: list[str | bytes] = []
        self.calls: list[Sequence[str | bytes]] = []

    def write(self, frames: Sequence[str | bytes]) -> None:
        self.calls.append(frames)
        if self.closed:
            self.writes_after_close.extend(frames)
        else:
            self.frames.extend(frames)

    def close(self) -> None:
        self.closed = True
        self.close_calls += 1

    def take(self) -> list[str | bytes]:
        """The frames written since the last call."""
        frames, self.frames = self.frames, []
        return frames


class Listener:
    """An EngineListener that records every call; ``on_message`` may act on each message."""

    def __init__(self, on_message: Callable[[EngineSession, str | bytes], Any] | None = None):
        self.opened: list[EngineSession] = []
        self.messages: list[tuple[str, str | bytes]] = []
        self.closes: list[tuple[str, str]] = []
        self.on_message = on_message
        self.on_close: Callable[[EngineSession, str], Any] | None = None

    def on_engine_open(self, session: EngineSession) -> None:
        self.opened.append(session)

    def on_engine_message(self, session: EngineSession, data: str | bytes) -> None:
        self.messages.append((session.sid, data))
        if self.on_message is not None:
            self.on_message(session, data)

    def on_engine_close(self, session: EngineSession, reason: str) -> None:
        self.closes.append((session.sid, reason))
        if self.on_close is not None:
            self.on_close(session, reason)

    def data(self) -> list[str | bytes]:
        return [data for _, data in self.messages]

    def reasons(self, session: EngineSession | None = None) -> list[str]:
        return [r for sid, r in self.closes if session is None or sid == session.sid]


def echo(session: EngineSession, data: str | bytes) -> None:
    session.send([data])


class Poll:
    """One polling GET as the I/O layer runs it: start, wait for wake-ups, take the body, end."""

    def __init__(self, session: EngineSession) -> None:
        self.session = session
        self.wakes = 0
        self.error = session.start_poll(self._wake)
        self.ended = False

    def _wake(self) -> None:
        self.wakes += 1

    @property
    def pending(self) -> bool:
        return self.error is None and not self.ended

    def take(self) -> str | None:
        """The body if the engine has one now (then the GET is answered), else None."""
        assert self.pending
        body = self.session.take_poll_body()
        if body is not None:
            self.end()
        return body

    def end(self) -> None:
        self.session.end_poll()
        self.ended = True


def get(session: EngineSession) -> str | None:
    """A GET answered at once: the body, or None if the GET would have to wait (then ended)."""
    poll = Poll(session)
    assert poll.error is None, poll.error
    body = poll.take()
    if body is None:
        poll.end()
    return body


def make_handshake(**overrides: Any) -> Handshake:
    fields: dict[str, Any] = {
        "headers": {"user-agent": "test"},
        "query": {"EIO": "4", "transport": "polling"},
        "remote_address": "127.0.0.1",
        "url": "http://127.0.0.1/engine.io/?EIO=4&transport=polling",
        "user": None,
        "issued": 1.7e9,
    }
    fields.update(overrides)
    return Handshake(**fields)


def make_engine(listener: Listener | None = None, **options: Any) -> tuple[Engine, Listener]:
    listener = listener or Listener()
    options.setdefault("ping_interval", 25.0)
    options.setdefault("ping_timeout", 20.0)
    return Engine(listener, **options), listener


def open_polling(
    engine: Engine, now: float = T0, credential: str | None = None, *, take_handshake: bool = True
) -> EngineSession:
    """Open a polling session; by default the first GET (the handshake) is answered too."""
    session = engine.open(make_handshake(), now=now, credential=credential)
    if take_handshake:
        body = get(session)
        assert body is not None and body.startswith("0{")
    return session


def open_websocket(
    engine: Engine, now: float = T0, credential: str | None = None
) -> tuple[EngineSession, FakeTransport]:
    transport = FakeTransport()
    session = engine.open(make_handshake(), now=now, credential=credential, websocket=transport)
    return session, transport


def handshake_of(body: str | bytes) -> dict[str, Any]:
    assert isinstance(body, str) and body.startswith("0")
    value = json.loads(body[1:])
    assert isinstance(value, dict)
    return value


def upgrade(session: EngineSession, now: float = T0) -> FakeTransport:
    """Run a complete upgrade of a polling session; return its new WebSocket."""
    probe = FakeTransport()
    assert session.attach_probe(probe, now) is None
    session.receive_frame(probe, "2probe", now)
    assert probe.take() == ["3probe"]
    session.receive_frame(probe, "5", now)
    assert session.transport == "websocket"
    return probe
