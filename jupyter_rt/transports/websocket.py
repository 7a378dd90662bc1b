"""Upgraded WebSockets served without Tornado: the engine's ``Transport`` for a WebSocket.

:func:`take_over` takes the socket from Tornado after the handshake: a plain TCP socket goes to
an asyncio transport (:class:`SocketConnection`, the fast path); a TLS stream stays a Tornado
stream (:class:`StreamConnection`). Frames are read with :mod:`jupyter_rt.protocol.websocket`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Sequence

from tornado import iostream

from jupyter_rt.engine import EngineSession
from jupyter_rt.protocol import websocket
from jupyter_rt.transports.driver import EngineDriver
from jupyter_rt.transports.tornado_internals import TornadoStreamInternals

log = logging.getLogger("jupyter_rt")


def wire_bytes(frames: Sequence[str | bytes]) -> bytes:
    """The WebSocket bytes of ``frames``: built once per broadcast, as the engine hands every
    recipient the same ``frames`` object (kept here, so its id cannot be reused meanwhile)."""
    global _last_frames, _last_wire
    if frames is not _last_frames:
        if len(frames) == 1 and frames[0].__class__ is str:  # the common case
            _last_wire = websocket.text_frame(frames[0])
        else:
            _last_wire = b"".join(
                websocket.binary_frame(f) if isinstance(f, bytes) else websocket.text_frame(f)
                for f in frames
            )
        _last_frames = frames
    return _last_wire


_last_frames: Sequence[str | bytes] = ()
_last_wire = b""


class WebSocketConnection:
    """One upgraded WebSocket, read and written without Tornado: the engine's ``Transport``.

    Bytes go through :class:`jupyter_rt.protocol.websocket.FrameReader`; messages go to the
    session. Subclasses move the bytes: a plain socket through an asyncio transport, anything
    else (TLS) through the Tornado stream.
    """

    __slots__ = (
        "_closing",
        "_held",
        "_reader",
        "_unsent",
        "_unsent_bytes",
        "driver",
        "session",
    )

    def __init__(self, driver: EngineDriver) -> None:
        self.driver = driver
        self.session: EngineSession | None = None
        self._reader = websocket.FrameReader(max_message=driver.engine.max_payload)
        self._closing = False
        self._held: list[bytes] | None = []
        """Bytes received before the session is attached (``None`` once attached)."""
        self._unsent: list[bytes] | None = None
        """Bytes written in this loop turn, sent together at its end (``None``: nothing)."""
        self._unsent_bytes = 0

    # -- Transport -----------------------------------------------------------------------------

    def write(self, frames: Sequence[str | bytes]) -> None:
        """Queue ``frames``: everything written to a connection in one loop turn goes out in
        one system call at the turn's end (a burst of broadcasts costs one per client)."""
        if self._closing:
            return
        data = wire_bytes(frames)
        unsent = self._unsent
        if unsent is None:
            self._unsent = [data]
            self._unsent_bytes = len(data)
            self.driver.flush_soon(self)
        else:
            unsent.append(data)
            self._unsent_bytes += len(data)

    def flush(self) -> None:
        """Send what :meth:`write` queued (the driver calls it at the end of the turn)."""
        unsent, self._unsent = self._unsent, None
        if unsent is not None and not self._closing:
            self._send(unsent[0] if len(unsent) == 1 else b"".join(unsent))

    @property
    def buffered_amount(self) -> int:
        """Bytes written but not yet taken by the kernel: queued for this turn's end, and
        waiting in the transport."""
        return (self._unsent_bytes if self._unsent is not None else 0) + self._backlog()

    def _backlog(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        self._close_with(websocket.CloseCode.NORMAL)

    # -- bytes in ------------------------------------------------------------------------------

    def attached(self, session: EngineSession, leftover: bytes = b"") -> None:
        """The connection now serves ``session``: handle ``leftover`` (bytes that came before
        the connection existed), then what it received before this call."""
        self.session = session
        held, self._held = self._held, None
        data = leftover + b"".join(held or ())
        if data:
            self.received(data)

    def received(self, data: bytes | memoryview) -> None:
        """Feed bytes read from the peer. Frames are handled for one slice of the loop's time
        (:attr:`EngineDriver.slice_seconds`); if more remain, reading pauses while the rest is
        handled in the next loop turns."""
        if self._closing:
            return
        if self._held is not None:
            if data:
                self._held.append(bytes(data))
            return
        if self._dispatch(data):
            self._pause_reading()
            asyncio.get_running_loop().call_soon(self._dispatch_more)

    def _dispatch_more(self) -> None:
        self.driver.flush_writes()
        if self._closing:
            return
        if self._dispatch(b""):
            asyncio.get_running_loop().call_soon(self._dispatch_more)
        else:
            self._resume_reading()

    _SLICE_EVENTS = 64

    def _dispatch(self, data: bytes | memoryview) -> bool:
        """Handle the frames in ``data`` and the reader for one slice; whether some may remain."""
        driver = self.driver
        deadline = driver.work_clock() + driver.slice_seconds
        try:
            while True:
                events = self._reader.feed(data, self._SLICE_EVENTS)
                data = b""
                if not self._handle(events):
                    return False
                if len(events) < self._SLICE_EVENTS:
                    return False
                if driver.work_clock() >= deadline:
                    return True
        except websocket.FrameError as exc:
            sid = self.session.sid if self.session else "-"
            log.warning("Closing WebSocket of session %s: %s", sid, exc)
            self._close_with(exc.close_code)
            self._lost()
            return False
        finally:
            driver.reschedule()

    def _handle(self, events: list[websocket.Event]) -> bool:
        """Handle ``events``; ``False`` once the connection is closing."""
        now = self.driver.now()
        for event in events:
            if self._closing:
                return False
            if isinstance(event, websocket.Message):
                if self.session is not None:
                    self.session.receive_frame(self, event.data, now)
            elif isinstance(event, websocket.Ping):
                self._send(websocket.pong_frame(event.payload))
            else:
                self._close_with(websocket.CloseCode.NORMAL)
                self._lost()
                return False
        return not self._closing

    def _pause_reading(self) -> None:
        raise NotImplementedError

    def _resume_reading(self) -> None:
        raise NotImplementedError

    def _close_with(self, code: int) -> None:
        if not self._closing:
            self.flush()
            self._closing = True
            self._send(websocket.close_frame(code))
            self._shutdown()

    def _lost(self) -> None:
        """The connection is gone: tell the session once."""
        self._closing = True
        self._unsent = None
        session, self.session = self.session, None
        if session is not None:
            session.websocket_closed(self)

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError


class SocketConnection(WebSocketConnection, asyncio.BufferedProtocol):
    """A WebSocket on a plain TCP socket, served by an asyncio transport (the fast path).

    Reads land in the driver's one read buffer, which the frame reader copies from at once
    (a buffer per connection would cost 64 KiB each; a fresh 256 KiB bytes per read, asyncio's
    default, costs allocator system calls).
    """

    __slots__ = ("_early", "_transport")

    def __init__(self, driver: EngineDriver) -> None:
        super().__init__(driver)
        self._transport: asyncio.Transport | None = None
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._early:
            transport.write(b"".join(self._early))
            self._early.clear()
        if self._closing:
            transport.close()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.driver.read_buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received(self.driver.read_buffer[:nbytes])

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._lost()

    def _backlog(self) -> int:
        transport = self._transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def _send(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None:
            transport.write(data)
        else:
            self._early.append(data)

    def _pause_reading(self) -> None:
        if self._transport is not None:
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()

    def _shutdown(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def adopt(self, sock: socket.socket, leftover: bytes, attach: Attach) -> None:
        """Move ``sock`` from Tornado to an asyncio transport served by this connection, then
        ``attach`` it."""
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: self, sock)
        except (OSError, ValueError) as exc:  # ValueError: the socket is already closed
            log.debug("WebSocket lost while taken over: %s", exc)
            sock.close()
            self._lost()
            return
        if self._closing:  # the peer reset or closed meanwhile
            log.debug("WebSocket closed by the peer before its session opened")
            return
        if not attach(self, leftover):
            self._shutdown()


class StreamConnection(WebSocketConnection):
    """A WebSocket on a Tornado stream (used for TLS, where the socket cannot be taken over)."""

    __slots__ = ("_reading", "_stream")

    def __init__(self, driver: EngineDriver, stream: iostream.IOStream) -> None:
        super().__init__(driver)
        self._stream = stream
        self._reading = asyncio.Event()
        self._reading.set()

    async def run(self) -> None:
        """Read until the peer or the server closes the connection."""
        try:
            while not self._closing:
                await self._reading.wait()
                self.received(await self._stream.read_bytes(65536, partial=True))
        except iostream.StreamClosedError:
            pass
        finally:
            self._lost()

    def _backlog(self) -> int:
        return TornadoStreamInternals.write_buffer_size(self._stream)

    def _send(self, data: bytes) -> None:
        if not self._stream.closed():
            self._stream.write(data).add_done_callback(_ignore_closed)

    def _shutdown(self) -> None:
        asyncio.get_running_loop().call_soon(self._stream.close)
        self._reading.set()  # run() then sees the stream closed

    def _pause_reading(self) -> None:
        self._reading.clear()

    def _resume_reading(self) -> None:
        self._reading.set()


def _ignore_closed(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # consumed: a write to a closed stream needs no report


Attach = Callable[[WebSocketConnection, bytes], bool]
"""``attach(connection, leftover)``: open or join the connection's session once the socket is
ours (``leftover``: bytes Tornado read past the handshake); ``False`` if refused."""


def take_over(driver: EngineDriver, stream: iostream.IOStream, attach: Attach) -> None:
    """Serve the upgraded ``stream`` without Tornado, calling ``attach`` once the socket is ours.

    A peer gone at any point before leaves nothing registered, and only a debug line.
    """
    leftover = TornadoStreamInternals.unread_bytes(stream)
    if type(stream) is not iostream.IOStream:
        if stream.closed():
            log.debug("WebSocket closed by the peer during the handshake")
            return
        stream_connection = StreamConnection(driver, stream)
        if attach(stream_connection, leftover):
            driver.spawn(stream_connection.run())
        else:
            stream.close()
        return
    sock = TornadoStreamInternals.take_socket(stream)
    if sock is None:
        log.debug("WebSocket closed by the peer during the handshake")
        return
    connection = SocketConnection(driver)
    driver.spawn(connection.adopt(sock, leftover, attach))
