"""``AsyncClient``: a Socket.IO v5 client on asyncio, over an Engine.IO v4 session.

The wire formats come from :mod:`jupyter_rt.protocol`, the session (long-polling, WebSocket,
the upgrade, heartbeats) from :mod:`jupyter_rt.client._engine`; this module connects the
namespaces, runs the handlers, matches acks to their requests, reconnects when the transport
drops and recovers the sessions of servers with connection state recovery.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt.client._acks import PendingAcks
from jupyter_rt.client._dial import (
    CredentialsRefused,
    Endpoint,
    check_transports,
    make_endpoint,
)
from jupyter_rt.client._engine import EngineClosed, EngineConnection, check_fits
from jupyter_rt.client._handlers import Handler, Handlers, run_handlers
from jupyter_rt.client._namespace import (
    FINAL_REASONS,
    MAX_BUFFERED,
    NamespaceState,
    await_connects,
)
from jupyter_rt.errors import (
    AckTimeout,
    ConnectError,
    ConnectionRefused,
    NotConnected,
    ProtocolError,
)
from jupyter_rt.protocol.events import (
    DisconnectReason,
    Reason,
    ack_args,
    ack_value,
    check_event_name,
)
from jupyter_rt.protocol.socketio import (
    DEFAULT_MAX_ATTACHMENTS,
    Decoder,
    Packet,
    PacketType,
    encode_fields,
)

__all__ = ["AsyncClient", "Handler"]

log = logging.getLogger("jupyter_rt.client")

H = TypeVar("H", bound=Handler)

MAX_MESSAGE = 64 * 1024 * 1024
"""The largest WebSocket message, or polling response, this client accepts, in bytes."""


class AsyncClient:
    """A Socket.IO client for asyncio.

    ::

        client = AsyncClient(ack_timeout=5)

        @client.on("tickEvent", namespace="/tick")
        async def on_tick(data):
            await client.emit("tickReceivedEvent", data, namespace="/tick")

        await client.connect("http://127.0.0.1:8888", token=token, namespaces=["/hub", "/tick"])
        reply = await client.call("rooms")  # on /hub, the first namespace; AckTimeout after 5 s
        await client.disconnect()

    After the transport drops (network, ping timeout, server restart) the client reconnects
    with exponential backoff (``reconnection_delay`` doubling up to ``reconnection_delay_max``,
    ± ``randomization_factor``, at most ``reconnection_attempts`` times, ``None`` for no
    limit) and rejoins its namespaces (an Engine.IO CLOSE from the server ends the transport
    only, as for the official clients); not after the server disconnects it (``41``) or
    :meth:`disconnect`. ``connect(retry=True)`` applies the same to the first connection.

    ``ack_timeout`` is how long :meth:`call` waits when given no ``timeout`` (``None``: as
    long as the connection lasts). ``connect_timeout`` bounds each step of a connection
    attempt (the handshake, each namespace's answer).
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 0.5,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        ack_timeout: float | None = 10.0,
        connect_timeout: float = 10.0,
        max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    ) -> None:
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.randomization_factor = randomization_factor
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        self.eio_sid: str | None = None
        """The Engine.IO session id of the current connection."""
        self.max_payload: int | None = None
        """The largest message the server accepts (its handshake's ``maxPayload``), in bytes."""
        self.default_namespace = "/"
        """The namespace used when a method is given none: the first one connected to."""
        self._handlers = Handlers()
        self._namespaces: dict[str, NamespaceState] = {}
        self._acks = PendingAcks()
        self._endpoints: tuple[Endpoint, ...] = ()
        self._next_endpoint = 0
        """The index in ``_endpoints`` that the next connection attempt tries first."""
        self._transports: tuple[str, ...] = ()
        self._conn: EngineConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[Reason] | None = None
        self._tasks = TaskKeeper()
        self._stopping = False
        self._reconnecting = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the transport is open and every namespace is connected."""
        return (
            self._conn is not None
            and all(ns.connected for ns in self._namespaces.values() if ns.active)
            and any(ns.active for ns in self._namespaces.values())
        )

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected, else ``None``."""
        return self._conn.transport if self._conn is not None else None

    @property
    def namespaces(self) -> dict[str, str]:
        """The connected namespaces and their socket ids."""
        return {name: ns.sid for name, ns in self._namespaces.items() if ns.connected and ns.sid}

    def get_sid(self, namespace: str | None = None) -> str | None:
        """This client's socket id on ``namespace``, or ``None`` when not connected there."""
        ns = self._namespaces.get(namespace or self.default_namespace)
        return ns.sid if ns is not None and ns.connected else None

    @property
    def sid(self) -> str | None:
        """The socket id on the first namespace connected."""
        return next(iter(self.namespaces.values()), None)

    def is_recovered(self, namespace: str | None = None) -> bool:
        """Whether the last connection to ``namespace`` recovered the session before it.

        Only with a server that has connection state recovery on (Node's socket.io 4.6+ with
        ``connectionStateRecovery``, or jupyter_rt's): the socket id, the rooms and
        ``socket.data`` are back, and the events missed meanwhile were delivered (before the
        ``connect`` handlers ran), so there is nothing to join again.
        """
        ns = self._namespaces.get(namespace or self.default_namespace)
        return ns is not None and ns.recovered

    @property
    def recovered(self) -> bool:
        """:meth:`is_recovered` for the default namespace."""
        return self.is_recovered()

    # -- handlers ------------------------------------------------------------------------------

    @overload
    def on(self, event: str, *, namespace: str | None = None) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H, *, namespace: str | None = None) -> H: ...
    def on(
        self, event: str, handler: H | None = None, *, namespace: str | None = None
    ) -> H | Callable[[H], H]:
        """Add ``handler`` for ``event`` on ``namespace``; use as ``@client.on("ev")`` or
        ``client.on("ev", fn)``.

        The handler gets the event's arguments and may be async. All the handlers of an event
        run, one after the other, in the order they were added; when the server asked for an
        ack (``socket.call``), the value returned by the first is the ack (``None`` → no
        values, a tuple → several, else one; if every handler raises there is no ack).
        ``"*"`` is called for every event as ``handler(event, *args)``, after the event's own
        handlers (so its return value is the ack of events with none). ``connect``,
        ``connect_error`` and ``disconnect`` report this client's own state. Without
        ``namespace`` the handler is for :attr:`default_namespace`.
        """

        def register(fn: H) -> H:
            self._handlers.add(namespace, event, fn)
            return fn

        return register if handler is None else register(handler)

    def off(
        self, event: str, handler: Handler | None = None, *, namespace: str | None = None
    ) -> None:
        """Remove ``handler`` of ``event`` on ``namespace``, or every handler of ``event``."""
        self._handlers.remove(namespace, event, handler)

    # -- connecting ----------------------------------------------------------------------------

    async def connect(
        self,
        url: str | Sequence[str],
        *,
        path: str = "/socket.io/",
        token: str | None = None,
        namespaces: Iterable[str] | None = None,
        auth: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] | None = None,
        retry: bool = False,
        validate_cert: bool = True,
    ) -> None:
        """Open the connection and join ``namespaces``; return once all are connected.

        ``url`` is the server (``http(s)://`` or ``ws(s)://``); a path in it names the
        namespace when ``namespaces`` is not given, as in the JS client. A list of urls names
        the servers of one cluster (the same credentials on each, sessions shared through Redis,
        e.g. ``c.RealtimeApp.redis_adapter = "streams"``): each connection attempt tries them in
        turn, starting after the server last connected to, so a client that loses one server
        comes back to the next and recovers its session there. ``path`` is where the
        server serves Socket.IO (``{base_url}socket.io/`` in Jupyter). ``token`` goes in the
        ``Authorization`` header of every request. ``auth`` is each namespace's CONNECT
        payload.

        ``transports`` as in the official clients: ``["polling", "websocket"]`` (the default)
        starts on HTTP long-polling and upgrades to a WebSocket; ``["websocket"]`` opens a
        WebSocket at once; ``["polling"]`` stays on long-polling (binary then travels as
        base64). With ``retry`` a server that cannot be reached yet is tried again, with the
        reconnection delays and ``reconnection_attempts``; ``connect_error(error)`` handlers
        run after each failed attempt.

        Raises :class:`ConnectError` if the server cannot be reached (after the last attempt)
        or answers with an HTTP error (401 and 403 are not tried again),
        :class:`~jupyter_rt.ConnectionRefused` at once if a namespace refuses the client.
        """
        if self._supervisor is not None and not self._supervisor.done():
            raise RuntimeError("already connected; disconnect() first")
        urls = [url] if isinstance(url, str) else list(url)
        if not urls:
            raise ValueError("connect to at least one url")
        made = [
            make_endpoint(
                each,
                path,
                token=token,
                namespaces=namespaces,
                headers=headers,
                query=query,
                timeout=self.connect_timeout,
                validate_cert=validate_cert,
            )
            for each in urls
        ]
        names = made[0][1]
        if any(other != names for _, other in made):
            raise ValueError("the urls name different namespaces: give namespaces=")
        self._endpoints = tuple(endpoint for endpoint, _ in made)
        self._next_endpoint = 0
        self._transports = check_transports(transports)
        self.default_namespace = names[0]
        self._namespaces = {
            name: NamespaceState(name, dict(auth) if auth is not None else None) for name in names
        }
        self._stopping = False
        await self._attempt(first=True, retries=self.reconnection_attempts if retry else 0)
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _attempt(self, *, first: bool, retries: int | None) -> None:
        """Connect, trying again up to ``retries`` times (``None``: no limit) after a delay
        (a reconnection waits before its first try too). Raises the last :class:`ConnectError`,
        or :class:`ConnectionRefused` and :class:`CredentialsRefused` at once."""
        for attempt in itertools.count(0 if first else 1):
            if attempt:
                if retries is not None and attempt > retries:  # reconnection_attempts=0
                    raise ConnectError("no reconnection attempt allowed")
                base = min(
                    self.reconnection_delay_max, self.reconnection_delay * 2 ** (attempt - 1)
                )
                jitter = 1 + self.randomization_factor * (2 * random.random() - 1)
                await asyncio.sleep(base * jitter)
                if self._stopping:
                    raise ConnectError("disconnect() was called")
            try:
                await self._establish_any()
            except (ConnectionRefused, CredentialsRefused) as exc:
                self._fire_all("connect_error", exc)
                raise
            except ConnectError as exc:
                self._fire_all("connect_error", exc)
                if retries is not None and attempt >= retries:
                    raise
                log.info("Connection attempt %d failed: %s", attempt + first, exc)
                continue
            if attempt:
                log.info("Connected after %d attempt(s)", attempt + first)
            return

    async def _establish_any(self) -> None:
        """Connect to the first of the servers that answers, in turn from
        ``_next_endpoint``; raise the last one's :class:`ConnectError` if none does."""
        count = len(self._endpoints)
        for turn in range(count):
            index = (self._next_endpoint + turn) % count
            try:
                await self._establish(self._endpoints[index])
            except ConnectError as exc:
                if turn == count - 1 or isinstance(exc, CredentialsRefused):
                    raise
                self._fire_all("connect_error", exc)
                log.info("Cannot connect to %s: %s", self._endpoints[index].display, exc)
                continue
            self._next_endpoint = (index + 1) % count
            return

    async def _establish(self, endpoint: Endpoint) -> None:
        """Open an Engine.IO session at ``endpoint`` and connect every active namespace."""
        conn = await EngineConnection.open(
            endpoint,
            self._transports,
            max_message=MAX_MESSAGE,
            connect_timeout=self.connect_timeout,
        )
        try:
            loop = asyncio.get_running_loop()
            active = [ns for ns in self._namespaces.values() if ns.active]
            for ns in active:
                ns.waiter = loop.create_future()
            self._conn = conn
            self.eio_sid = conn.sid
            self.max_payload = conn.handshake.max_payload if conn.handshake else None
            reader = asyncio.ensure_future(self._read(conn))
            self._reader = reader
            try:
                for ns in active:
                    payload = ns.connect_payload()
                    await conn.send(encode_fields(PacketType.CONNECT, ns.name, payload))
            except NotConnected as exc:
                raise ConnectError(f"connection lost while connecting: {exc}") from None
            waiters = {ns.waiter for ns in active if ns.waiter is not None}
            await await_connects(waiters, reader, self.connect_timeout)
        except BaseException:
            self._conn = None
            conn.drop()
            for ns in self._namespaces.values():
                if ns.waiter is not None and not ns.waiter.done():
                    ns.waiter.cancel()
            raise

    async def _supervise(self) -> None:
        """Wait for the transport to drop; reconnect unless that was final."""
        while True:
            assert self._reader is not None
            reason = await self._reader
            self._lost(reason)
            if reason in FINAL_REASONS or self._stopping or not self.reconnection:
                self._finish(reason)
                return
            self._reconnecting = True
            try:
                await self._attempt(first=False, retries=self.reconnection_attempts)
            except (ConnectError, ConnectionRefused) as exc:
                log.warning("Reconnection failed: %s", exc)
                self._finish("reconnect failed")
                return
            finally:
                self._reconnecting = False

    # -- reading -------------------------------------------------------------------------------

    async def _read(self, conn: EngineConnection) -> Reason:
        """Read until the connection ends; return the disconnect reason."""
        decoder = Decoder(max_attachments=self.max_attachments)
        while True:
            try:
                data = await conn.receive()
            except EngineClosed as closed:
                return closed.reason
            try:
                packet = decoder.feed(data)
                if packet is not None and self._on_packet(packet):
                    await conn.close()
                    return DisconnectReason.IO_SERVER_DISCONNECT
            except ProtocolError as exc:
                log.warning("Closing the connection: %s", exc)
                conn.drop()
                return DisconnectReason.PARSE_ERROR

    def _on_packet(self, packet: Packet) -> bool:
        """Handle one Socket.IO packet; True when no namespace is left."""
        ns = self._namespaces.get(packet.nsp)
        ptype = packet.type
        if ptype in (PacketType.ACK, PacketType.BINARY_ACK):
            callback = self._acks.answered(packet.id, packet.nsp, list(packet.data))
            if callback is not None:
                self._tasks.spawn(run_handlers([callback], [], "a callback", list(packet.data)))
            return False
        if ns is None or not ns.active:
            return False
        if ptype in (PacketType.EVENT, PacketType.BINARY_EVENT):
            if ns.connected:
                self._deliver(ns, packet)
            else:
                ns.keep_early(packet)  # raises ProtocolError past its limit
        elif ptype == PacketType.CONNECT:
            early = ns.connected_with(packet.data if isinstance(packet.data, dict) else {})
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_result(ns.sid or "")
            for missed in early:  # what a recovered session missed, sent before the answer
                self._deliver(ns, missed)
            self._flush(ns)
            self._fire(ns.name, "connect")
        elif ptype == PacketType.CONNECT_ERROR:
            data = packet.data
            message = data.get("message", "refused") if isinstance(data, dict) else str(data)
            extra = data.get("data") if isinstance(data, dict) else None
            error = ConnectionRefused(f"{ns.name}: {message}", extra)
            error.message = str(message)
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_exception(error)
        elif ptype == PacketType.DISCONNECT:
            ns.active = False
            self._drop_namespace(ns, DisconnectReason.IO_SERVER_DISCONNECT)
            return not any(n.active for n in self._namespaces.values())
        return False

    def _deliver(self, ns: NamespaceState, packet: Packet) -> None:
        event, args = ns.event_args(packet)
        own, catch_all = self._handlers.for_event(ns.name, event, self.default_namespace)
        if not own and not catch_all:
            log.debug("No handler for %r on %s", event, ns.name)
            return
        self._tasks.spawn(self._handle(ns.name, own, catch_all, event, args, packet.id))

    async def _handle(
        self,
        nsp: str,
        own: list[Handler],
        catch_all: list[Handler],
        event: str,
        args: list[Any],
        ack: int | None,
    ) -> None:
        answered, result = await run_handlers(own, catch_all, event, args)
        conn = self._conn
        if ack is None or not answered or conn is None:
            return
        try:
            frames = encode_fields(PacketType.ACK, nsp, ack_args(result), ack)
        except (TypeError, ValueError):
            log.exception("Cannot encode the ack of a handler on %s", nsp)
            return
        with contextlib.suppress(NotConnected):  # the ack is lost with the connection
            await conn.send(frames)

    def _fire(self, nsp: str, event: str, *args: Any) -> None:
        handlers = self._handlers.of(nsp, event, self.default_namespace)
        if handlers:
            self._tasks.spawn(run_handlers(handlers, [], event, list(args)))

    def _fire_all(self, event: str, *args: Any) -> None:
        for name, ns in self._namespaces.items():
            if ns.active:
                self._fire(name, event, *args)

    # -- losing the connection -----------------------------------------------------------------

    def _drop_namespace(self, ns: NamespaceState, reason: Reason) -> None:
        was_connected = ns.connected
        ns.lost()
        self._acks.fail(ns.name, NotConnected(f"disconnected from {ns.name} ({reason})"))
        if was_connected:
            self._fire(ns.name, "disconnect", reason)

    def _lost(self, reason: Reason) -> None:
        self._conn = None
        for ns in self._namespaces.values():
            self._drop_namespace(ns, reason)

    def _finish(self, reason: str) -> None:
        for ns in self._namespaces.values():
            ns.active = False
            ns.buffer.clear()
        log.info("Disconnected for good: %s", reason)

    def drop(self) -> None:
        """Close the transport but not the sockets (no DISCONNECT is sent), as
        ``socket.io.engine.close()`` does in socket.io-client: the client reconnects, and
        recovers its sessions where the server keeps them. For tests of how an app lives
        through a lost connection."""
        if self._conn is not None:
            self._conn.drop()

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection; the client does not reconnect."""
        self._stopping = True
        conn = self._conn
        if conn is not None:
            for ns in self._namespaces.values():
                if ns.connected:
                    try:
                        await conn.send(encode_fields(PacketType.DISCONNECT, ns.name, None))
                    except NotConnected:
                        break
            await conn.close()
        for ns in self._namespaces.values():
            ns.active = False
            self._drop_namespace(ns, DisconnectReason.IO_CLIENT_DISCONNECT)
        self._conn = None
        supervisor = self._supervisor
        if supervisor is not None and not supervisor.done():
            if self._reconnecting:
                supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(supervisor), 5)

    async def wait(self) -> None:
        """Wait until the client is disconnected for good."""
        if self._supervisor is not None:
            await asyncio.shield(self._supervisor)

    # -- sending -------------------------------------------------------------------------------

    async def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        callback: Handler | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send ``event`` with ``args`` (``bytes`` anywhere go as binary attachments).

        ``namespace`` defaults to :attr:`default_namespace`. ``callback(*ack_args)`` runs when
        the server acknowledges within ``timeout`` seconds (by default the client's
        ``ack_timeout``); a later ack is ignored (and a warning logged), as is one lost with
        the connection. While the client reconnects the event is kept (up to
        :data:`MAX_BUFFERED` per namespace) and sent once the namespace is back. Raises
        :class:`~jupyter_rt.NotConnected` when the client is not connected to ``namespace``.
        """
        ns = self._check(event, namespace)
        ack_id = None
        if callback is not None:
            seconds = self.ack_timeout if timeout is None else timeout
            ack_id = self._acks.expect_callback(ns.name, callback, event, seconds)
        frames = encode_fields(PacketType.EVENT, ns.name, [event, *args], ack_id)
        await self._send(ns, frames)

    async def call(
        self, event: str, *args: Any, namespace: str | None = None, timeout: float | None = None
    ) -> Any:
        """Emit ``event`` and wait for the server's ack; return its value.

        One value → that value, none → ``None``, several → a tuple. Raises
        :class:`~jupyter_rt.AckTimeout` after ``timeout`` seconds (by default the client's
        ``ack_timeout``) and :class:`~jupyter_rt.NotConnected` if the connection drops first.
        """
        ns = self._check(event, namespace)
        seconds = self.ack_timeout if timeout is None else timeout
        ack_id, future = self._acks.expect_answer(ns.name)
        try:
            frames = encode_fields(PacketType.EVENT, ns.name, [event, *args], ack_id)
            await self._send(ns, frames)
            try:
                values = await asyncio.wait_for(future, seconds)
            except asyncio.TimeoutError:
                raise AckTimeout(f"no ack for {event!r} within {seconds} s") from None
        finally:
            self._acks.forget(ack_id)
        return ack_value(values)

    def _check(self, event: str, namespace: str | None) -> NamespaceState:
        check_event_name(event, allow_empty=False)
        name = namespace or self.default_namespace
        ns = self._namespaces.get(name)
        if ns is None or not ns.active:
            raise NotConnected(f"not connected to namespace {name}")
        return ns

    def emit_nowait(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """:meth:`emit` (without callback) for code that cannot await: the event is queued at
        once, in order with every other emit, or kept while the client reconnects. Raises as
        :meth:`emit` does; lost if the transport drops before it left, as an emit's would be."""
        ns = self._check(event, namespace)
        frames = encode_fields(PacketType.EVENT, ns.name, [event, *args])
        conn = self._conn
        check_fits(frames, self.max_payload, conn.transport if conn else self._transports[0])
        if ns.connected and conn is not None:
            try:
                conn.send_nowait(frames)
                return
            except NotConnected:
                if not self.reconnection or self._stopping:
                    raise
        self._keep(ns, frames)

    async def _send(self, ns: NamespaceState, frames: list[str | bytes]) -> None:
        conn = self._conn
        check_fits(frames, self.max_payload, conn.transport if conn else self._transports[0])
        if ns.connected and conn is not None:
            try:
                await conn.send(frames)
                return
            except NotConnected:
                if not self.reconnection or self._stopping:
                    raise
            # The transport just dropped; the reader has not noticed yet: keep it for later.
        self._keep(ns, frames)

    def _keep(self, ns: NamespaceState, frames: list[str | bytes]) -> None:
        """Keep ``frames`` until the namespace reconnects, or raise NotConnected."""
        if ns.active and (self._reconnecting or self._supervisor is not None):
            ns.buffer.append(frames)
            del ns.buffer[:-MAX_BUFFERED]
            return
        raise NotConnected(f"not connected to namespace {ns.name}")

    def _flush(self, ns: NamespaceState) -> None:
        buffered, ns.buffer = ns.buffer, []
        conn = self._conn
        if conn is not None:
            for frames in buffered:
                self._tasks.spawn(self._send_quietly(conn, frames))

    async def _send_quietly(self, conn: EngineConnection, frames: Sequence[str | bytes]) -> None:
        with contextlib.suppress(NotConnected):  # the reader notices the loss and reconnects
            await conn.send(frames)
