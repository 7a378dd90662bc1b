"""``AsyncClient``: a Socket.IO v5 client on asyncio, over one Engine.IO v4 WebSocket.

The wire formats come from :mod:`jupyter_rt.protocol`; this module only moves frames between
them and a ``tornado.websocket`` connection, answers the server's pings, matches acks to their
requests and reconnects when the transport drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from tornado import httpclient, websocket

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt.client._dial import build_request, open_websocket, read_open
from jupyter_rt.client._state import (
    FINAL_REASONS,
    MAX_BUFFERED,
    MAX_MESSAGE,
    MAX_PENDING_ACKS,
    Handler,
    NamespaceState,
    PendingAck,
)
from jupyter_rt.errors import (
    AckTimeout,
    ConnectError,
    ConnectionRefused,
    NotConnected,
    ProtocolError,
)
from jupyter_rt.protocol import engineio
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


class AsyncClient:
    """A Socket.IO client for asyncio (WebSocket transport only).

    ::

        client = AsyncClient()

        @client.on("tickEvent", namespace="/tick")
        async def on_tick(data):
            await client.emit("tickReceivedEvent", data, namespace="/tick")

        await client.connect("http://127.0.0.1:8888", token=token, namespaces=["/hub", "/tick"])
        reply = await client.call("rooms", timeout=5)  # on /hub, the first namespace
        await client.disconnect()

    After the transport drops (network, ping timeout, server restart) the client reconnects
    with exponential backoff and rejoins its namespaces; not after the server disconnects it
    (``41`` or an Engine.IO close) or :meth:`disconnect`.
    """

    def __init__(
        self,
        *,
        reconnection: bool = True,
        reconnection_attempts: int | None = None,
        reconnection_delay: float = 0.5,
        reconnection_delay_max: float = 5.0,
        randomization_factor: float = 0.5,
        ack_timeout: float = 10.0,
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
        self._handlers: dict[str | None, dict[str, Handler]] = {}
        self.default_namespace = "/"
        """The namespace used when a method is given none: the first one connected to."""
        self._namespaces: dict[str, NamespaceState] = {}
        self._pending: dict[int, PendingAck] = {}
        self._ids = itertools.count()
        self._request: httpclient.HTTPRequest | None = None
        self._ws: websocket.WebSocketClientConnection | None = None
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
            self._ws is not None
            and all(ns.connected for ns in self._namespaces.values() if ns.active)
            and any(ns.active for ns in self._namespaces.values())
        )

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

    # -- handlers ------------------------------------------------------------------------------

    @overload
    def on(self, event: str, *, namespace: str | None = None) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H, *, namespace: str | None = None) -> H: ...
    def on(
        self, event: str, handler: H | None = None, *, namespace: str | None = None
    ) -> H | Callable[[H], H]:
        """Register ``handler`` for ``event`` on ``namespace`` (one per event; later wins).

        Use as ``@client.on("ev")`` or ``client.on("ev", fn)``. The handler gets the event's
        arguments and may be async. When the server asked for an ack (``socket.call``), the
        return value is the ack: ``None`` → no values, a tuple → several, else one.
        ``connect``, ``connect_error`` and ``disconnect`` report this client's own state.
        Without ``namespace`` the handler is for :attr:`default_namespace`.
        """

        def register(fn: H) -> H:
            self._handlers.setdefault(namespace, {})[event] = fn
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, *, namespace: str | None = None) -> None:
        """Remove the handler of ``event`` on ``namespace``."""
        self._handlers.get(namespace, {}).pop(event, None)

    # -- connecting ----------------------------------------------------------------------------

    async def connect(
        self,
        url: str,
        *,
        path: str = "/socket.io/",
        token: str | None = None,
        namespaces: Iterable[str] | None = None,
        auth: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        validate_cert: bool = True,
    ) -> None:
        """Open the connection and join ``namespaces``; return once all are connected.

        ``url`` is the server (``http(s)://`` or ``ws(s)://``); a path in it names the
        namespace when ``namespaces`` is not given, as in the JS client. ``path`` is where the
        server serves Socket.IO (``{base_url}socket.io/`` in Jupyter). ``token`` goes in the
        ``Authorization`` header. ``auth`` is each namespace's CONNECT payload.

        Raises :class:`ConnectError` if the server cannot be reached or answers with an HTTP
        error, :class:`~jupyter_rt.ConnectionRefused` if a namespace refuses the client.
        """
        if self._supervisor is not None and not self._supervisor.done():
            raise RuntimeError("already connected; disconnect() first")
        self._request, names = build_request(
            url,
            path,
            token=token,
            namespaces=namespaces,
            headers=headers,
            query=query,
            timeout=self.connect_timeout,
            validate_cert=validate_cert,
        )
        self.default_namespace = names[0]
        self._namespaces = {
            name: NamespaceState(name, dict(auth) if auth is not None else None) for name in names
        }
        self._stopping = False
        await self._establish()
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _establish(self) -> websocket.WebSocketClientConnection:
        """Open a WebSocket session and connect every active namespace."""
        assert self._request is not None
        ws = await open_websocket(self._request, MAX_MESSAGE)
        try:
            handshake = await read_open(ws, self.connect_timeout)
            loop = asyncio.get_running_loop()
            active = [ns for ns in self._namespaces.values() if ns.active]
            for ns in active:
                ns.waiter = loop.create_future()
            self._ws = ws
            self.eio_sid = str(handshake.get("sid"))
            max_payload = handshake.get("maxPayload")
            self.max_payload = max_payload if isinstance(max_payload, int) else None
            reader = asyncio.ensure_future(self._read(ws, handshake))
            self._reader = reader
            try:
                for ns in active:
                    await self._write(ws, encode_fields(PacketType.CONNECT, ns.name, ns.auth))
            except NotConnected:
                raise ConnectError("connection lost while connecting") from None
            waiters = {ns.waiter for ns in active if ns.waiter is not None}
            await self._await_connects(waiters, reader)
        except BaseException:
            self._ws = None
            ws.close()
            for ns in self._namespaces.values():
                if ns.waiter is not None and not ns.waiter.done():
                    ns.waiter.cancel()
            raise
        return ws

    async def _await_connects(
        self, waiters: set[asyncio.Future[str]], reader: asyncio.Task[Reason]
    ) -> None:
        """Wait for every namespace's CONNECT answer; raise on a refusal, loss or timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout
        while waiters:
            remaining = deadline - loop.time()
            pending: list[asyncio.Future[Any]] = [*waiters, reader]
            done, _ = await asyncio.wait(
                pending, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise ConnectError(f"no CONNECT answer within {self.connect_timeout} s")
            if reader in done:
                raise ConnectError(f"connection lost while connecting ({reader.result()})")
            for waiter in done:
                waiter.result()  # raises ConnectionRefused
                waiters.discard(waiter)

    async def _supervise(self) -> None:
        """Wait for the transport to drop; reconnect unless that was final."""
        while True:
            assert self._reader is not None
            reason = await self._reader
            self._lost(reason)
            if reason in FINAL_REASONS or self._stopping or not self.reconnection:
                self._finish(reason)
                return
            if not await self._reconnect():
                self._finish("reconnect failed")
                return

    async def _reconnect(self) -> bool:
        self._reconnecting = True
        try:
            for attempt in itertools.count(1):
                limit = self.reconnection_attempts
                if limit is not None and attempt > limit:
                    return False
                base = min(
                    self.reconnection_delay_max, self.reconnection_delay * 2 ** (attempt - 1)
                )
                jitter = 1 + self.randomization_factor * (2 * random.random() - 1)
                await asyncio.sleep(base * jitter)
                if self._stopping:
                    return False
                try:
                    await self._establish()
                except ConnectionRefused as exc:
                    log.warning("Reconnection refused: %s", exc)
                    self._fire_all("connect_error", exc)
                    return False
                except ConnectError as exc:
                    log.info("Reconnection attempt %d failed: %s", attempt, exc)
                    self._fire_all("connect_error", exc)
                    continue
                log.info("Reconnected after %d attempt(s)", attempt)
                return True
            return False  # pragma: no cover - the loop only ends by returning
        finally:
            self._reconnecting = False

    # -- reading -------------------------------------------------------------------------------

    async def _read(
        self, ws: websocket.WebSocketClientConnection, handshake: dict[str, Any]
    ) -> Reason:
        """Read until the connection ends; return the disconnect reason."""
        interval = float(handshake.get("pingInterval", 25000)) / 1000
        timeout = float(handshake.get("pingTimeout", 20000)) / 1000
        decoder = Decoder(max_attachments=self.max_attachments)
        while True:
            try:
                frame = await asyncio.wait_for(ws.read_message(), interval + timeout)
            except asyncio.TimeoutError:
                ws.close()
                return DisconnectReason.PING_TIMEOUT
            if frame is None:
                return DisconnectReason.TRANSPORT_CLOSE
            try:
                packet = engineio.decode_frame(frame)
                if packet.type == engineio.PacketType.PING:
                    await self._write(ws, ["3" + str(packet.data)], engine=True)
                elif packet.type == engineio.PacketType.CLOSE:
                    ws.close()
                    return DisconnectReason.IO_SERVER_DISCONNECT
                elif packet.type == engineio.PacketType.MESSAGE:
                    socket_packet = decoder.feed(packet.data)
                    if socket_packet is not None and self._on_packet(socket_packet):
                        ws.close()
                        return DisconnectReason.IO_SERVER_DISCONNECT
            except ProtocolError as exc:
                log.warning("Closing the connection: %s", exc)
                ws.close()
                return DisconnectReason.PARSE_ERROR
            except NotConnected:
                return DisconnectReason.TRANSPORT_CLOSE

    def _on_packet(self, packet: Packet) -> bool:
        """Handle one Socket.IO packet; True when no namespace is left."""
        ns = self._namespaces.get(packet.nsp)
        ptype = packet.type
        if ptype in (PacketType.ACK, PacketType.BINARY_ACK):
            pending = self._pending.pop(packet.id, None) if packet.id is not None else None
            if pending is not None and pending.namespace == packet.nsp:
                if pending.future is not None and not pending.future.done():
                    pending.future.set_result(list(packet.data))
                elif pending.callback is not None:
                    self._spawn(self._call(pending.callback, list(packet.data)))
            return False
        if ns is None:
            return False
        if ptype in (PacketType.EVENT, PacketType.BINARY_EVENT):
            event, *args = packet.data
            handler = self._handler(ns.name, event)
            if handler is None:
                log.debug("No handler for %r on %s", event, ns.name)
            else:
                self._spawn(self._handle(ns.name, handler, args, packet.id))
        elif ptype == PacketType.CONNECT:
            data = packet.data if isinstance(packet.data, dict) else {}
            ns.sid = str(data.get("sid", ""))
            ns.connected = True
            if ns.waiter is not None and not ns.waiter.done():
                ns.waiter.set_result(ns.sid)
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

    async def _handle(self, nsp: str, handler: Handler, args: list[Any], ack: int | None) -> None:
        try:
            result = handler(*args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("Error in the handler of an event on %s", nsp)
            return
        if ack is None:
            return
        values = ack_args(result)
        ws = self._ws
        if ws is not None:
            try:
                frames = encode_fields(PacketType.ACK, nsp, values, ack)
            except (TypeError, ValueError):
                log.exception("Cannot encode the ack of a handler on %s", nsp)
                return
            with contextlib.suppress(NotConnected):  # the ack is lost with the connection
                await self._write(ws, frames)

    async def _call(self, fn: Handler, args: Sequence[Any]) -> None:
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("Error in a client callback")

    def _fire(self, nsp: str, event: str, *args: Any) -> None:
        handler = self._handler(nsp, event)
        if handler is not None:
            self._spawn(self._call(handler, args))

    def _handler(self, nsp: str, event: str) -> Handler | None:
        handler = self._handlers.get(nsp, {}).get(event)
        if handler is None and nsp == self.default_namespace:
            handler = self._handlers.get(None, {}).get(event)
        return handler

    def _fire_all(self, event: str, *args: Any) -> None:
        for name, ns in self._namespaces.items():
            if ns.active:
                self._fire(name, event, *args)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        self._tasks.spawn(coroutine)

    # -- losing the connection -----------------------------------------------------------------

    def _drop_namespace(self, ns: NamespaceState, reason: Reason) -> None:
        was_connected = ns.connected
        ns.connected = False
        ns.sid = None
        for ack_id, pending in list(self._pending.items()):
            if pending.namespace == ns.name:
                del self._pending[ack_id]
                if pending.future is not None and not pending.future.done():
                    pending.future.set_exception(
                        NotConnected(f"disconnected from {ns.name} ({reason})")
                    )
        if not ns.active:
            ns.buffer.clear()
        if was_connected:
            self._fire(ns.name, "disconnect", reason)

    def _lost(self, reason: Reason) -> None:
        self._ws = None
        for ns in self._namespaces.values():
            self._drop_namespace(ns, reason)

    def _finish(self, reason: str) -> None:
        for ns in self._namespaces.values():
            ns.active = False
            ns.buffer.clear()
        log.info("Disconnected for good: %s", reason)

    async def disconnect(self) -> None:
        """Leave every namespace and close the connection; the client does not reconnect."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            for ns in self._namespaces.values():
                if ns.connected:
                    try:
                        await self._write(ws, encode_fields(PacketType.DISCONNECT, ns.name, None))
                    except NotConnected:
                        break
            ws.close()
        for ns in self._namespaces.values():
            ns.active = False
            self._drop_namespace(ns, DisconnectReason.IO_CLIENT_DISCONNECT)
        self._ws = None
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
    ) -> None:
        """Send ``event`` with ``args`` (``bytes`` anywhere go as binary attachments).

        ``namespace`` defaults to :attr:`default_namespace`. ``callback(*ack_args)`` runs when
        the server acknowledges. While the client reconnects
        the event is kept and sent once the namespace is back. Raises
        :class:`~jupyter_rt.NotConnected` when the client is not connected to ``namespace``.
        """
        ns = self._check(event, namespace)
        ack_id = None
        if callback is not None:
            ack_id = next(self._ids)
            self._add_pending(ack_id, PendingAck(ns.name, callback=callback))
        frames = encode_fields(PacketType.EVENT, ns.name, [event, *args], ack_id)
        await self._send(ns, frames)

    async def call(
        self, event: str, *args: Any, namespace: str | None = None, timeout: float | None = None
    ) -> Any:
        """Emit ``event`` and wait for the server's ack; return its value.

        One value → that value, none → ``None``, several → a tuple. Raises
        :class:`~jupyter_rt.AckTimeout` after ``timeout`` seconds (default ``ack_timeout``) and
        :class:`~jupyter_rt.NotConnected` if the connection drops first.
        """
        ns = self._check(event, namespace)
        seconds = self.ack_timeout if timeout is None else timeout
        ack_id = next(self._ids)
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._add_pending(ack_id, PendingAck(ns.name, future=future))
        try:
            frames = encode_fields(PacketType.EVENT, ns.name, [event, *args], ack_id)
            await self._send(ns, frames)
            try:
                values = await asyncio.wait_for(future, seconds)
            except asyncio.TimeoutError:
                raise AckTimeout(f"no ack for {event!r} within {seconds} s") from None
        finally:
            self._pending.pop(ack_id, None)
        return ack_value(values)

    def _add_pending(self, ack_id: int, pending: PendingAck) -> None:
        self._pending[ack_id] = pending
        while len(self._pending) > MAX_PENDING_ACKS:
            oldest = self._pending.pop(next(iter(self._pending)))
            if oldest.future is not None and not oldest.future.done():
                oldest.future.set_exception(AckTimeout("too many acks pending"))

    def _check(self, event: str, namespace: str | None) -> NamespaceState:
        check_event_name(event, allow_empty=False)
        name = namespace or self.default_namespace
        ns = self._namespaces.get(name)
        if ns is None or not ns.active:
            raise NotConnected(f"not connected to namespace {name}")
        return ns

    def emit_nowait(self, event: str, *args: Any, namespace: str | None = None) -> None:
        """:meth:`emit` (without callback) for code that cannot await: the event goes to the
        transport at once, in order with every other emit, or is kept while the client
        reconnects. Raises as :meth:`emit` does; if the transport drops before the event left,
        it is lost, as an awaited emit's would be."""
        ns = self._check(event, namespace)
        frames = encode_fields(PacketType.EVENT, ns.name, [event, *args])
        self._check_size(frames)
        ws = self._ws
        if ns.connected and ws is not None:
            try:
                for frame in frames:
                    data = engineio.message_frame(frame)
                    ws.write_message(data, binary=isinstance(data, bytes)).add_done_callback(
                        _retrieve
                    )
                return
            except websocket.WebSocketClosedError:
                if not self.reconnection or self._stopping:
                    raise NotConnected("the connection is closed") from None
        self._keep(ns, frames)

    def _check_size(self, frames: Sequence[str | bytes]) -> None:
        limit = self.max_payload
        if limit is not None:
            for frame in frames:
                size = len(frame) if isinstance(frame, bytes) else len(frame.encode()) + 1
                if size > limit:
                    raise ValueError(f"a message of {size} bytes is over the server's {limit}")

    async def _send(self, ns: NamespaceState, frames: list[str | bytes]) -> None:
        self._check_size(frames)
        ws = self._ws
        if ns.connected and ws is not None:
            try:
                await self._write(ws, frames)
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
        ws = self._ws
        if ws is not None:
            for frames in buffered:
                self._spawn(self._write_quietly(ws, frames))

    async def _write_quietly(
        self, ws: websocket.WebSocketClientConnection, frames: Sequence[str | bytes]
    ) -> None:
        with contextlib.suppress(NotConnected):  # the reader notices the loss and reconnects
            await self._write(ws, frames)

    async def _write(
        self,
        ws: websocket.WebSocketClientConnection,
        frames: Sequence[str | bytes],
        *,
        engine: bool = False,
    ) -> None:
        """Write a packet's frames in order (Engine.IO MESSAGE framing unless ``engine``)."""
        last: Awaitable[None] | None = None
        try:
            for frame in frames:
                data = frame if engine else engineio.message_frame(frame)
                last = ws.write_message(data, binary=isinstance(data, bytes))
            if last is not None:
                await last
        except websocket.WebSocketClosedError:
            raise NotConnected("the connection is closed") from None


def _retrieve(write: asyncio.Future[None]) -> None:
    """A write nobody awaits: its failure (the connection closed) is the reader's to notice."""
    if not write.cancelled():
        write.exception()
