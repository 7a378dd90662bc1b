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
import logging
import socket
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from tornado import iostream, web

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
        self._tasks: set[asyncio.Task[None]] = set()
        self.read_buffer = memoryview(bytearray(65536))
        """Where every WebSocket of this driver reads into; consumed before the next read."""

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the driver keeps until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def now(self) -> float:
        """The engine's clock: the running loop's monotonic time."""
        return asyncio.get_running_loop().time()

    def reschedule(self) -> None:
        """Make sure the timer fires by the engine's next deadline."""
        deadline = self.engine.next_deadline()
        if deadline is None or deadline >= self._timer_at:
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

    def received(self, data: bytes | memoryview) -> None:
        """Feed bytes read from the peer."""
        if self._closing:
            return
        try:
            events = self._reader.feed(data)
        except websocket.FrameError as exc:
            sid = self.session.sid if self.session else "-"
            log.warning("Closing WebSocket of session %s: %s", sid, exc)
            self._close_with(exc.close_code)
            self._lost()
            return
        now = self.driver.now()
        for event in events:
            if isinstance(event, websocket.Message):
                if self.session is not None:
                    self.session.receive_frame(self, event.data, now)
            elif isinstance(event, websocket.Ping):
                self._send(websocket.pong_frame(event.payload))
            else:
                self._close_with(websocket.CloseCode.NORMAL)
                self._lost()
                return
        self.driver.reschedule()

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

    def _shutdown(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _StreamConnection(_WebSocketConnection):
    """A WebSocket on a Tornado stream (used for TLS, where the socket cannot be taken over)."""

    def __init__(self, driver: EngineDriver, stream: iostream.IOStream) -> None:
        super().__init__(driver)
        self._stream = stream

    async def run(self, leftover: bytes) -> None:
        """Read until the peer or the server closes the connection."""
        if leftover:
            self.received(leftover)
        try:
            while not self._closing:
                self.received(await self._stream.read_bytes(65536, partial=True))
        except iostream.StreamClosedError:
            pass
        finally:
            self._lost()

    @property
    def buffered_amount(self) -> int:
        return int(getattr(self._stream, "_write_buffer_size", 0))

    def _send(self, data: bytes) -> None:
        if not self._stream.closed():
            self._stream.write(data).add_done_callback(_ignore_closed)

    def _shutdown(self) -> None:
        asyncio.get_running_loop().call_soon(self._stream.close)


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
            headers={k.lower(): v for k, v in request.headers.items()},
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
        declared = self.request.headers.get("Content-Length", "")
        if (
            self.request.method == "POST"
            and declared.isdigit()
            and int(declared) > self.engine.max_payload
        ):
            # Answered (413, session closed) before the body is read; post() is not called.
            self._body_too_large = True
            self._answer_post()
            return None
        return super().prepare()

    def data_received(self, chunk: bytes) -> None:
        if len(self._body) + len(chunk) > self.engine.max_payload:
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
        self._answer_post()

    def _answer_post(self) -> None:
        self.driver.run_due()
        query = self._query()
        refusal = self.engine.check_request(query)
        if refusal is not None or query.get("transport") != "polling" or "sid" not in query:
            self._refuse(refusal or Refusal(400, "Bad request"))
            return
        session = self._find_session(query)
        if session is None:
            return
        if self._body_too_large:
            log.warning(
                "Closing session %s: POST body over %d bytes", session.sid, self.engine.max_payload
            )
            session.close("parse error")
            self._refuse(Refusal(413, "Payload too large"))
            return
        error = session.receive_payload(bytes(self._body), self.driver.now())
        if error is not None:
            self._refuse(Refusal(400, error))
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish("ok")

    def _refuse_method(self, *args: Any, **kwargs: Any) -> None:
        # Engine.IO answers methods it does not know with a 400, not Tornado's 405.
        self._refuse(Refusal(400, "Bad request method"))

    put = patch = delete = _refuse_method

    def on_connection_close(self) -> None:
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
            log.warning("Refused a WebSocket from origin %s", origin)
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
        leftover = bytes(stream._read_buffer[: stream._read_buffer_size])
        connection: _WebSocketConnection
        if type(stream) is iostream.IOStream:
            connection = _SocketConnection(self.driver)
        else:
            connection = _StreamConnection(self.driver, stream)
        now = self.driver.now()
        if session is None:
            session = self.engine.open(
                self._handshake(query),
                now=now,
                credential=self.session_credential(),
                websocket=connection,
            )
        elif session.attach_probe(connection, now) is not None:
            stream.close()
            return
        connection.session = session
        self.driver.reschedule()
        if isinstance(connection, _SocketConnection):
            sock = stream.socket
            stream.io_loop.remove_handler(sock)
            self.driver.spawn(_adopt(sock, connection, leftover))
        else:
            self.driver.spawn(connection.run(leftover))


async def _adopt(sock: socket.socket, connection: _SocketConnection, leftover: bytes) -> None:
    """Move ``sock`` from Tornado to an asyncio transport served by ``connection``."""
    loop = asyncio.get_running_loop()
    try:
        await loop.connect_accepted_socket(lambda: connection, sock)
    except OSError:
        connection._lost()
        return
    if leftover:
        connection.received(leftover)


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
