"""Engine.IO over Tornado: long-polling and WebSocket handlers, and :func:`mount` for any app.

Only I/O lives here: a handler reads a request or frame, feeds it to the engine, and writes what
the engine hands back. Every rule of the protocol is in :mod:`jupyter_rt.engine`.

::

    io = jupyter_rt.Server()
    app = tornado.web.Application()
    jupyter_rt.tornado.mount(app, io)          # serves /socket.io/
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tornado import iostream, web
from tornado.log import app_log, gen_log

from jupyter_rt._redact import SECRET_HEADERS, scrub_text, scrub_uri
from jupyter_rt.engine import Engine, EngineListener, EngineSession, Handshake, Refusal
from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import engineio, websocket

if TYPE_CHECKING:
    from jupyter_rt.server import Server

log = logging.getLogger("jupyter_rt")


class EngineDriver:
    """Runs an :class:`Engine` on the asyncio loop: one timer drives every heartbeat."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        engine.on_next_deadline = self._arm
        self._tasks: set[asyncio.Task[None]] = set()
        self.read_buffer = memoryview(bytearray(65536))
        """Where every WebSocket of this driver reads into; consumed before the next read."""

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the driver keeps until it ends, in an empty context.

        Not in the request's: a WebSocket outlives its request, and the task's context is what
        its transport's callbacks run in for the socket's life; a host's context variables
        would keep the request alive that long (Jupyter's ``CallContext`` holds the handler,
        and with it the request, its headers, the Tornado connection and stream).
        """
        task = contextvars.Context().run(asyncio.ensure_future, coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def now(self) -> float:
        """The engine's clock: the running loop's monotonic time."""
        return asyncio.get_running_loop().time()

    def reschedule(self) -> None:
        """Make sure the timer fires by the engine's next deadline."""
        deadline = self.engine.next_deadline()
        if deadline is not None:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        """Make the timer fire by ``deadline`` (the engine calls it when its deadline moves
        earlier, from a request or not)."""
        if deadline >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = asyncio.get_running_loop().call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self.engine.tick(self.now())
        self.reschedule()

    slice_seconds = 0.005
    """How long one slice of a request's work may hold the loop before yielding to it."""

    async def run_sliced(self, step: Callable[[float, int], bool]) -> None:
        """Call ``step(now, max_items)`` until it returns ``False``, yielding to the loop after
        every :attr:`slice_seconds` of work, so that no request holds the loop for long."""
        now = self.now
        while True:
            deadline = now() + self.slice_seconds
            while (more := step(now(), 64)) and now() < deadline:
                pass
            self.reschedule()
            if not more:
                return
            await asyncio.sleep(0)

    def run_due(self) -> None:
        """Run the timeouts already due, so that a request never finds an expired session alive
        because the timer is late (a loaded loop fires it milliseconds after its time)."""
        self.engine.tick(self.now())
        self.reschedule()

    def shutdown(self) -> None:
        """Drop every session (clients reconnect later) and stop the timer."""
        self.engine.close_all()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = float("inf")


_shared_strings: dict[str, str] = {}
_PRIVATE_HEADERS = frozenset(name.title() for name in SECRET_HEADERS)  # as Tornado spells them
_UNSHARED_HEADERS = _PRIVATE_HEADERS | {"Sec-Websocket-Key"}
"""Headers whose values stay out of the table: credentials, and the WebSocket key, new in every
request (it would only fill the table with strings of a past crowd, kept for the process's life,
which pin their allocator arenas: the crowd's memory never goes back)."""


def _shared(text: str) -> str:
    """``text``, or an equal string that other handshakes already hold, so that thousands of
    sessions share one copy of their header names and common values (``User-Agent``…). The
    table is bounded: past it, strings are simply not shared; credentials never go in it."""
    found = _shared_strings.get(text)
    if found is not None:
        return found
    if len(_shared_strings) < 1024 and len(text) <= 256:
        _shared_strings[text] = text
    return text


def _wire_bytes(frames: Sequence[str | bytes]) -> bytes:
    """The WebSocket bytes of ``frames``: built once per broadcast, as the engine hands every
    recipient the same ``frames`` object (kept here, so its id cannot be reused meanwhile)."""
    global _last_frames, _last_wire
    if frames is not _last_frames:
        _last_wire = b"".join(
            websocket.binary_frame(f) if isinstance(f, bytes) else websocket.text_frame(f)
            for f in frames
        )
        _last_frames = frames
    return _last_wire


_last_frames: Sequence[str | bytes] = ()
_last_wire = b""


class _WebSocketConnection:
    """One upgraded WebSocket, read and written without Tornado: the engine's ``Transport``.

    Bytes go through :class:`jupyter_rt.protocol.websocket.FrameReader`; messages go to the
    session. Subclasses move the bytes: a plain socket through an asyncio transport, anything
    else (TLS) through the Tornado stream.
    """

    def __init__(self, driver: EngineDriver) -> None:
        self.driver = driver
        self.session: EngineSession | None = None
        self._reader = websocket.FrameReader(max_message=driver.engine.max_payload)
        self._closing = False
        self._held: list[bytes] | None = []
        """Bytes received before the session is attached (``None`` once attached)."""

    # -- Transport -----------------------------------------------------------------------------

    def write(self, frames: Sequence[str | bytes]) -> None:
        if not self._closing:
            self._send(_wire_bytes(frames))

    @property
    def buffered_amount(self) -> int:
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
        deadline = driver.now() + driver.slice_seconds
        try:
            while True:
                events = self._reader.feed(data, self._SLICE_EVENTS)
                data = b""
                if not self._handle(events):
                    return False
                if len(events) < self._SLICE_EVENTS:
                    return False
                if driver.now() >= deadline:
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
            self._closing = True
            self._send(websocket.close_frame(code))
            self._shutdown()

    def _lost(self) -> None:
        """The connection is gone: tell the session once."""
        self._closing = True
        session, self.session = self.session, None
        if session is not None:
            session.websocket_closed(self)

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def _shutdown(self) -> None:
        raise NotImplementedError


class _SocketConnection(_WebSocketConnection, asyncio.BufferedProtocol):
    """A WebSocket on a plain TCP socket, served by an asyncio transport (the fast path).

    Reads land in the driver's one read buffer, which the frame reader copies from at once
    (a buffer per connection would cost 64 KiB each; a fresh 256 KiB bytes per read, asyncio's
    default, costs allocator system calls).
    """

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

    @property
    def buffered_amount(self) -> int:
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


class _StreamConnection(_WebSocketConnection):
    """A WebSocket on a Tornado stream (used for TLS, where the socket cannot be taken over)."""

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

    @property
    def buffered_amount(self) -> int:
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


@web.stream_request_body
class EngineIOHandler(web.RequestHandler):
    """Serves one Engine.IO endpoint: polling GET and POST, and WebSocket upgrades.

    Hosts override :meth:`session_credential` and :meth:`session_user` to bind sessions to
    whoever is authenticated (the Jupyter extension does).
    """

    driver: EngineDriver

    def initialize(self, driver: EngineDriver) -> None:
        self.driver = driver
        self._body = bytearray()
        self._body_too_large = False
        self._polling: tuple[EngineSession, asyncio.Event] | None = None
        self._posting_session: EngineSession | None = None
        self._post_refusal: Refusal | None = None
        self._intake_running = False

    # -- hooks for hosts ----------------------------------------------------------------------

    def session_credential(self) -> str | None:
        """An opaque string naming who makes this request; a session only serves its opener."""
        return None

    def session_user(self) -> Mapping[str, object] | None:
        """The authenticated user, shown to server code as ``socket.handshake.user``."""
        return None

    # -- requests -----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.driver.engine

    def _query(self) -> dict[str, str]:
        return {k: v[0].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}

    def compute_etag(self) -> str | None:
        return None  # a poll answered "304 Not Modified" would lose its packets

    def _request_summary(self) -> str:
        # Tornado's access log and log_exception print this: never the token in the query.
        request = self.request
        return f"{request.method} {scrub_uri(request.uri or '')} ({request.remote_ip})"

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        """Tornado's, with every URI and message scrubbed of credentials (its own prints the
        request URI, ``token=`` included, and the request's repr)."""
        if isinstance(value, web.HTTPError):
            message = value.get_message()
            if message:
                gen_log.warning(
                    "%d %s: %s", value.status_code, self._request_summary(), scrub_text(message)
                )
        else:
            app_log.error(
                "Uncaught exception %s",
                self._request_summary(),
                exc_info=(typ, value, tb),  # type: ignore[arg-type]
            )

    def _refuse(self, refusal: Refusal) -> None:
        log.info(
            "Refused %s %s: %d %s",
            self.request.method,
            self.request.path,
            refusal.status,
            refusal.message,
        )
        self.set_status(refusal.status)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(refusal.message)

    def _handshake(self, query: Mapping[str, str]) -> Handshake:
        request = self.request
        return Handshake(
            headers={
                _shared(k.lower()): v if k in _UNSHARED_HEADERS else _shared(v)
                for k, v in request.headers.items()
            },
            query=query,
            remote_address=request.remote_ip or "",
            url=request.full_url(),
            user=self.session_user(),
            issued=time.time(),
        )

    def _find_session(self, query: Mapping[str, str]) -> EngineSession | None:
        """The session named by ``sid``, or ``None`` after answering with an error."""
        found = self.engine.find(query["sid"], self.session_credential())
        if isinstance(found, Refusal):
            self._refuse(found)
            return None
        return found

    def prepare(self) -> Awaitable[None] | None:
        # Bodies are read chunk by chunk (data_received) and never buffered past max_payload;
        # far larger ones are cut off by the connection itself. (Not async: hosts such as
        # JupyterHandler call it from their own prepare without awaiting it.)
        set_max_body_size = getattr(self.request.connection, "set_max_body_size", None)
        if set_max_body_size is not None:
            set_max_body_size(2 * self.engine.max_payload + 65536)
        if self.request.method == "POST" and not self._start_post():
            return None  # answered before the body is read; post() is not called
        return super().prepare()

    def _start_post(self) -> bool:
        """Find the POST's session at its headers and mark it posting; ``False`` once answered.

        Refusals wait for :meth:`post` (hosts authenticate there); only the session's own
        credentials get an answer from here.
        """
        self.driver.run_due()
        query = self._query()
        refusal = self.engine.check_request(query)
        if refusal is not None or query.get("transport") != "polling" or "sid" not in query:
            self._post_refusal = refusal or Refusal(400, "Bad request")
            return True
        found = self.engine.find(query["sid"], self.session_credential())
        if isinstance(found, Refusal):
            self._post_refusal = found
            return True
        session = found
        error = session.start_post()
        if error is not None:
            self._refuse(Refusal(400, error))
            return False
        self._posting_session = session
        if self.request.headers.get("Content-Type") == "application/octet-stream":
            # As Node's engine.io: Engine.IO 4 payloads are text, a binary body closes the session
            # (only this exact value: "text/plain;charset=UTF-8", "text/plain" or none are fine).
            log.warning("Closing session %s: a binary (octet-stream) POST body", session.sid)
            session.close("transport error")
            self._refuse(Refusal(400, "Bad request: invalid content"))
            return False
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.engine.max_payload:
            self._close_too_large(session)
            self._refuse(Refusal(413, "Payload too large"))
            return False
        return True

    def _close_too_large(self, session: EngineSession) -> None:
        log.warning(
            "Closing session %s: POST body over %d bytes", session.sid, self.engine.max_payload
        )
        self._body_too_large = True
        self._body = bytearray()
        session.close("parse error")

    def data_received(self, chunk: bytes) -> None:
        if self._body_too_large or self._posting_session is None:
            return
        if len(self._body) + len(chunk) > self.engine.max_payload:
            # Closed now: a chunked body far over the limit never reaches post() (Tornado cuts
            # the connection at its own limit).
            if self._posting_session is not None:
                self._close_too_large(self._posting_session)
            self._body_too_large = True
            return
        self._body += chunk

    async def get(self, *args: Any, **kwargs: Any) -> None:
        self.driver.run_due()
        query = self._query()
        refusal = self.engine.check_request(query)
        if refusal is not None:
            self._refuse(refusal)
            return
        if query["transport"] == "websocket":
            await self._upgrade(query)
            return
        if "sid" not in query:
            session = self.engine.open(
                self._handshake(query), now=self.driver.now(), credential=self.session_credential()
            )
            self.driver.reschedule()
        else:
            found = self._find_session(query)
            if found is None:
                return
            session = found
        await self._answer_poll(session)

    async def _answer_poll(self, session: EngineSession) -> None:
        wakeup = asyncio.Event()
        error = session.start_poll(wakeup.set)
        if error is not None:
            self._refuse(Refusal(400, error))
            return
        self._polling = (session, wakeup)
        try:
            while (body := session.take_poll_body()) is None and not session.closed:
                await wakeup.wait()
                wakeup.clear()
        finally:
            session.end_poll()
            self._polling = None
        if body is None:
            self._refuse(Refusal(400, "Session closed"))
            return
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(engineio.utf8(body))

    async def post(self, *args: Any, **kwargs: Any) -> None:
        session = self._posting_session
        if session is None:  # refused at the headers, or a host's prepare did not call ours
            self._refuse(self._post_refusal or Refusal(400, "Bad request"))
            return
        if self._body_too_large:
            self._refuse(Refusal(413, "Payload too large"))
            return
        body, self._body = bytes(self._body), bytearray()
        self._intake_running = True
        try:
            intake = session.payload_intake(body, self.driver.now())
            await self.driver.run_sliced(intake.step)
        finally:
            self._intake_running = False
            self._end_post()
        if intake.error is not None:
            self._refuse(Refusal(400, intake.error))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish("ok")

    def _end_post(self) -> None:
        """Let the session take its next POST (not while this one's body is being handled)."""
        session = self._posting_session
        if session is not None and not self._intake_running:
            self._posting_session = None
            session.end_post()

    def on_finish(self) -> None:
        self._end_post()

    def _refuse_method(self, *args: Any, **kwargs: Any) -> None:
        # Engine.IO answers methods it does not know with a 400, not Tornado's 405.
        self._refuse(Refusal(400, "Bad request method"))

    put = patch = delete = _refuse_method

    def on_connection_close(self) -> None:
        self._end_post()
        if self._polling is not None:
            # The client went away while its GET was pending.
            (session, wakeup), self._polling = self._polling, None
            session.abort_poll()
            wakeup.set()

    # -- websocket ----------------------------------------------------------------------------

    def check_origin(self, origin: str) -> bool:
        """Whether a WebSocket from a page at ``origin`` may connect; by default same host only.

        Loosening this lets any web page a user visits open sessions with their cookies.
        """
        return urlparse(origin).netloc.lower() == self.request.headers.get("Host", "").lower()

    async def _upgrade(self, query: Mapping[str, str]) -> None:
        """Complete the WebSocket handshake, then serve the socket without Tornado."""
        session = None
        if "sid" in query and (session := self._find_session(query)) is None:
            return
        headers = self.request.headers
        connection_tokens = {t.strip().lower() for t in headers.get("Connection", "").split(",")}
        if headers.get("Upgrade", "").lower() != "websocket" or "upgrade" not in connection_tokens:
            self._refuse(Refusal(400, 'Can "Upgrade" only to "WebSocket".'))
            return
        if headers.get("Sec-WebSocket-Version") != "13":
            self.set_header("Sec-WebSocket-Version", "13")
            self._refuse(Refusal(426, "Unsupported WebSocket version"))
            return
        try:
            accept = websocket.accept_key(headers.get("Sec-WebSocket-Key", ""))
        except ProtocolError as exc:
            self._refuse(Refusal(400, str(exc)))
            return
        origin = headers.get("Origin") or headers.get("Sec-WebSocket-Origin")
        if origin is not None and not self.check_origin(origin):
            log.warning("Refused a WebSocket from origin %s", scrub_uri(origin))
            self._refuse(Refusal(403, "Cross origin websockets not allowed"))
            return
        self.clear_header("Content-Type")
        self.set_status(101)
        self.set_header("Upgrade", "websocket")
        self.set_header("Connection", "Upgrade")
        self.set_header("Sec-WebSocket-Accept", accept)
        flushed = self.finish()
        stream = self.detach()
        try:
            await flushed
        except iostream.StreamClosedError:
            return
        self._serve_websocket(stream, query, session)

    def _serve_websocket(
        self, stream: iostream.IOStream, query: Mapping[str, str], session: EngineSession | None
    ) -> None:
        # The session is opened (or the probe attached) only once the socket is ours: a peer
        # gone at any point before leaves nothing registered, and only a debug line.
        leftover = TornadoStreamInternals.unread_bytes(stream)
        if type(stream) is not iostream.IOStream:
            if stream.closed():
                log.debug("WebSocket closed by the peer during the handshake")
                return
            stream_connection = _StreamConnection(self.driver, stream)
            if self._attach(stream_connection, query, session, leftover):
                self.driver.spawn(stream_connection.run())
            else:
                stream.close()
            return
        sock = TornadoStreamInternals.take_socket(stream)
        if sock is None:
            log.debug("WebSocket closed by the peer during the handshake")
            return
        connection = _SocketConnection(self.driver)
        self.driver.spawn(self._adopt(sock, connection, leftover, query, session))

    async def _adopt(
        self,
        sock: socket.socket,
        connection: _SocketConnection,
        leftover: bytes,
        query: Mapping[str, str],
        session: EngineSession | None,
    ) -> None:
        """Move ``sock`` from Tornado to an asyncio transport served by ``connection``, then
        open the session on it (or attach it as the upgrade probe of ``session``)."""
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(lambda: connection, sock)
        except (OSError, ValueError) as exc:  # ValueError: the socket is already closed
            log.debug("WebSocket lost while taken over: %s", exc)
            sock.close()
            connection._lost()
            return
        if connection._closing:  # the peer reset or closed meanwhile
            log.debug("WebSocket closed by the peer before its session opened")
            return
        if not self._attach(connection, query, session, leftover):
            connection._shutdown()

    def _attach(
        self,
        connection: _WebSocketConnection,
        query: Mapping[str, str],
        session: EngineSession | None,
        leftover: bytes,
    ) -> bool:
        """Open a session on ``connection``, or attach it as ``session``'s probe; ``False`` if
        refused. Then ``leftover`` (read by Tornado) and what the connection received meanwhile
        are handled."""
        now = self.driver.now()
        if session is None:
            session = self.engine.open(
                self._handshake(query),
                now=now,
                credential=self.session_credential(),
                websocket=connection,
            )
        elif session.attach_probe(connection, now) is not None:
            return False
        connection.attached(session, leftover)
        self.driver.reschedule()
        return True


class TornadoStreamInternals:
    """The one place that uses private attributes of Tornado's ``IOStream`` (Tornado 6.x):
    ``_read_buffer``, ``_read_buffer_size``, ``_write_buffer`` and ``io_loop.remove_handler`` on
    the stream's socket. ``tests/test_tornado.py`` checks them on a real stream, so that a
    Tornado release that changes them fails a test rather than a takeover."""

    @staticmethod
    def unread_bytes(stream: iostream.IOStream) -> bytes:
        """Bytes Tornado has read from the peer but nobody consumed yet (the first frames)."""
        return bytes(stream._read_buffer[: stream._read_buffer_size])

    @staticmethod
    def write_buffer_size(stream: iostream.IOStream) -> int:
        """Bytes written to ``stream`` that the kernel has not taken yet."""
        return len(stream._write_buffer)

    @staticmethod
    def take_socket(stream: iostream.IOStream) -> socket.socket | None:
        """Stop Tornado from watching the stream's socket and return it (the caller now owns
        it), or ``None`` when the stream is already closed (the peer reset or went away)."""
        sock = stream.socket
        if stream.closed() or sock is None or sock.fileno() < 0:
            return None
        stream.io_loop.remove_handler(sock)
        return sock


def mount_engine(
    app: web.Application,
    listener: EngineListener,
    path: str = "/engine.io/",
    *,
    handler_class: type[EngineIOHandler] = EngineIOHandler,
    **engine_options: Any,
) -> EngineDriver:
    """Serve a bare Engine.IO endpoint at ``path``, delivering messages to ``listener``."""
    driver = EngineDriver(Engine(listener, **engine_options))
    pattern = path.rstrip("/") + "/?"
    app.add_handlers(r".*", [(pattern, handler_class, {"driver": driver})])
    return driver


def mount(
    app: web.Application,
    io: Server,
    path: str = "/socket.io/",
    *,
    handler_class: type[EngineIOHandler] = EngineIOHandler,
) -> EngineDriver:
    """Serve the Socket.IO server ``io`` at ``path`` of ``app``, with ``io``'s options."""
    return mount_engine(
        app,
        io,
        path,
        handler_class=handler_class,
        ping_interval=io.ping_interval,
        ping_timeout=io.ping_timeout,
        max_payload=io.max_payload,
        transports=io.transports,
    )
