"""The Tornado request handler of an Engine.IO endpoint: polling GET and POST, and the
WebSocket handshake (the socket is then served by :mod:`jupyter_rt.transports.websocket`).

Only I/O lives here: a handler reads a request, feeds it to the engine, and writes what the
engine hands back. Every rule of the protocol is in :mod:`jupyter_rt.engine`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import urlparse

from tornado import iostream, web
from tornado.log import app_log, gen_log

from jupyter_rt._redact import SECRET_HEADERS, scrub_text, scrub_uri
from jupyter_rt._throttle import LogThrottle
from jupyter_rt.engine import Engine, EngineSession, Handshake, Refusal
from jupyter_rt.engine.requests import TOO_LARGE
from jupyter_rt.errors import ProtocolError
from jupyter_rt.protocol import engineio, websocket
from jupyter_rt.protocol.engineio import ErrorCode
from jupyter_rt.transports.admission import GateFull
from jupyter_rt.transports.driver import EngineDriver
from jupyter_rt.transports.websocket import WebSocketConnection, take_over

log = logging.getLogger("jupyter_rt")
_refusals = LogThrottle(log)

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
        self._unlogged = False
        self._gone = False

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
        self.engine.count_refusal(refusal.reason)
        log.info(
            "Refused %s %s: %d %s",
            self.request.method,
            self.request.path,
            refusal.status,
            refusal.message,
        )
        self.set_status(refusal.status)
        if refusal.code is None:
            self.clear_header("Content-Type")
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(refusal.body)

    def _add_headers(self, opened: Handshake | None, query: Mapping[str, str]) -> None:
        """Add what the app's headers hooks give for this response; ``opened`` is the request
        of the session this response opens (``None`` for the others)."""
        engine = self.engine
        if opened is not None:
            request = opened
        elif engine.options.headers is not None:
            request = self._handshake(query)
        else:
            return
        replaced: set[str] = {"set-cookie"}  # added to, never replaced (the host's own login)
        for name, value in engine.response_headers(request, initial=opened is not None):
            if name.lower() in replaced:
                self.add_header(name, value)
            else:
                replaced.add(name.lower())
                self.set_header(name, value)

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

    def admit_handshake(self) -> asyncio.Future[None] | bool:
        """Take a handshake's turn at the driver's gate: ``True`` to go on now (or not a
        handshake), a future to wait for first, ``False`` once answered 503 (too many wait).

        For hosts whose handshakes cost much (Jupyter's), called before that cost.
        """
        if self.request.method != "GET" or "sid" in self.request.query_arguments:
            return True
        gate = self.driver.handshakes
        try:
            waiting = gate.admit()
        except GateFull:
            _refusals.log(
                logging.WARNING,
                "handshakes waiting",
                "Refused handshakes with 503: %d already wait for their turn",
                gate.waiting,
            )
            self._unlogged = True  # one line a minute, above; not one per request
            self.engine.count_refusal("too_many_handshakes")
            self.set_status(503)
            self.set_header("Retry-After", "1")
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish("Too many handshakes, try again")
            return False
        return True if waiting is None else waiting

    def _log(self) -> None:
        # Tornado's access log line for this request (RequestHandler._log), but not for
        # refusals a peer can cause as often as it likes, already logged once a minute.
        if not self._unlogged:
            super()._log()

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
        refusal = self.engine.check_request(query, "POST")
        if refusal is not None or query.get("transport") != "polling":
            self._post_refusal = refusal or Refusal.of(ErrorCode.BAD_REQUEST)
            return True
        found = self.engine.find(query["sid"], self.session_credential())
        if isinstance(found, Refusal):
            self._post_refusal = found
            return True
        session = found
        refusal = session.start_post()
        if refusal is not None:
            self._refuse(refusal)
            return False
        self._posting_session = session
        if self.request.headers.get("Content-Type") == "application/octet-stream":
            # As Node's engine.io: Engine.IO 4 payloads are text, a binary body closes the session
            # (only this exact value: "text/plain;charset=UTF-8", "text/plain" or none are fine).
            log.warning("Closing session %s: a binary (octet-stream) POST body", session.sid)
            session.close_for_violation("transport error")
            self._refuse(Refusal(400, "Bad request: invalid content"))
            return False
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.engine.max_payload:
            self._close_too_large(session)
            self._refuse(TOO_LARGE)
            return False
        return True

    def _close_too_large(self, session: EngineSession) -> None:
        log.warning(
            "Closing session %s: POST body over %d bytes", session.sid, self.engine.max_payload
        )
        self._body_too_large = True
        self._body = bytearray()
        session.close_for_violation("parse error")

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
        opened = None
        if "sid" not in query:
            opened = self._handshake(query)
            if not await self._allowed(opened):
                return
            session = self.engine.open(
                opened, now=self.driver.now(), credential=self.session_credential()
            )
            self.driver.reschedule()
        else:
            found = self._find_session(query)
            if found is None:
                return
            session = found
        await self._answer_poll(session, opened, query)

    async def _allowed(self, request: Handshake) -> bool:
        """Whether the app's ``allow_request`` lets this handshake through (else answered), and
        the client is still there after an async one."""
        verdict = self.engine.allow(request)
        if verdict is not None and not isinstance(verdict, Refusal):
            verdict = await verdict
        if verdict is not None:
            self._refuse(verdict)
            return False
        return not self._gone

    async def _answer_poll(
        self, session: EngineSession, opened: Handshake | None, query: Mapping[str, str]
    ) -> None:
        wakeup = asyncio.Event()
        refusal = session.start_poll(wakeup.set)
        if refusal is not None:
            self._refuse(refusal)
            return
        self._polling = (session, wakeup)
        try:
            while (answer := session.take_poll_body()) is None:
                if self._gone:  # the client left (the session ended with it)
                    return
                await wakeup.wait()
                wakeup.clear()
        finally:
            session.end_poll()
            self._polling = None
        if isinstance(answer, Refusal):
            self._refuse(answer)
            return
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self._add_headers(opened, query)
        self.finish(engineio.utf8(answer))

    async def post(self, *args: Any, **kwargs: Any) -> None:
        session = self._posting_session
        if session is None:  # refused at the headers, or a host's prepare did not call ours
            self._refuse(self._post_refusal or Refusal(400, "Bad request"))
            return
        if self._body_too_large:
            self._refuse(TOO_LARGE)
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
            self._refuse(intake.error)
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self._add_headers(None, self._query())
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
        refusal = self.engine.check_request(self._query(), self.request.method or "")
        self._refuse(refusal or Refusal.of(ErrorCode.BAD_REQUEST))

    put = patch = delete = options = _refuse_method

    def on_connection_close(self) -> None:
        self._gone = True
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
            self._refuse(Refusal.of(ErrorCode.BAD_REQUEST))  # transport=websocket, no upgrade
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
            self._refuse(Refusal.of(ErrorCode.FORBIDDEN, "Cross origin websockets not allowed"))
            return
        opened = None
        if session is None:
            opened = self._handshake(query)
            if not await self._allowed(opened):
                return
        self.clear_header("Content-Type")
        self.set_status(101)
        self._add_headers(opened, query)
        self.set_header("Upgrade", "websocket")
        self.set_header("Connection", "Upgrade")
        self.set_header("Sec-WebSocket-Accept", accept)
        flushed = self.finish()
        stream = self.detach()
        try:
            await flushed
        except iostream.StreamClosedError:
            return
        take_over(
            self.driver,
            stream,
            lambda conn, leftover: self._attach(conn, opened, session, leftover),
        )

    def _attach(
        self,
        connection: WebSocketConnection,
        opened: Handshake | None,
        session: EngineSession | None,
        leftover: bytes,
    ) -> bool:
        """Open a session on ``connection`` (``opened``: its handshake request), or attach it as
        ``session``'s probe; ``False`` if refused. Then ``leftover`` (read by Tornado) and what
        the connection received meanwhile are handled."""
        now = self.driver.now()
        if session is None:
            assert opened is not None
            session = self.engine.open(
                opened,
                now=now,
                credential=self.session_credential(),
                websocket=connection,
            )
        elif session.attach_probe(connection, now) is not None:
            return False
        connection.attached(session, leftover)
        self.driver.reschedule()
        return True
