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
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tornado import web, websocket

from jupyter_rt.engine import Engine, EngineListener, EngineSession, Handshake, Refusal

if TYPE_CHECKING:
    from jupyter_rt.server import Server

log = logging.getLogger("jupyter_rt")


class EngineDriver:
    """Runs an :class:`Engine` on the asyncio loop: one timer drives every heartbeat."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

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

    def shutdown(self) -> None:
        """Drop every session (clients reconnect later) and stop the timer."""
        self.engine.close_all()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _WebSocketTransport:
    """The engine's view of one WebSocket connection."""

    __slots__ = ("_handler",)

    def __init__(self, handler: EngineIOHandler) -> None:
        self._handler = handler

    def write(self, frames: Sequence[str | bytes]) -> None:
        connection = self._handler.ws_connection
        if connection is None:
            return
        for frame in frames:
            try:
                connection.write_message(frame, binary=isinstance(frame, bytes))
            except websocket.WebSocketClosedError:
                return

    @property
    def buffered_amount(self) -> int:
        connection = self._handler.ws_connection
        stream = getattr(connection, "stream", None)
        return int(getattr(stream, "_write_buffer_size", 0))

    def close(self) -> None:
        self._handler.close()


@web.stream_request_body
class EngineIOHandler(websocket.WebSocketHandler):
    """Serves one Engine.IO endpoint: polling GET and POST, and WebSocket upgrades.

    Hosts override :meth:`session_credential` and :meth:`session_user` to bind sessions to
    whoever is authenticated (the Jupyter extension does).
    """

    driver: EngineDriver

    def initialize(self, driver: EngineDriver) -> None:
        self.driver = driver
        self._body = bytearray()
        self._body_too_large = False
        self._session: EngineSession | None = None
        self._transport: _WebSocketTransport | None = None
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

    @property
    def max_message_size(self) -> int:
        return self.engine.max_payload

    def _query(self) -> dict[str, str]:
        return {k: v[0].decode("utf-8", "replace") for k, v in self.request.query_arguments.items()}

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
        query = self._query()
        refusal = self.engine.check_request(query)
        if refusal is not None:
            self._refuse(refusal)
            return
        if query["transport"] == "websocket":
            if "sid" in query and self._find_session(query) is None:
                return
            await super().get(*args, **kwargs)
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
        self.finish(body)

    async def post(self, *args: Any, **kwargs: Any) -> None:
        self._answer_post()

    def _answer_post(self) -> None:
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
        super().on_connection_close()

    # -- websocket ----------------------------------------------------------------------------

    def get_compression_options(self) -> dict[str, Any] | None:
        return None  # permessage-deflate costs ~200 KiB per connection; off by default.

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.set_nodelay(True)
        query = self._query()
        transport = self._transport = _WebSocketTransport(self)
        now = self.driver.now()
        if "sid" in query:
            session = self.engine.sessions.get(query["sid"])
            error = (
                "Session ID unknown" if session is None else session.attach_probe(transport, now)
            )
            if session is None or error is not None:
                self.close()
                return
        else:
            session = self.engine.open(
                self._handshake(query),
                now=now,
                credential=self.session_credential(),
                websocket=transport,
            )
        self._session = session
        self.driver.reschedule()

    def on_message(self, message: str | bytes) -> None:
        session, transport = self._session, self._transport
        if session is not None and transport is not None:
            session.receive_frame(transport, message, self.driver.now())
            self.driver.reschedule()

    def on_close(self) -> None:
        session, transport = self._session, self._transport
        if session is not None and transport is not None:
            session.websocket_closed(transport)


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
