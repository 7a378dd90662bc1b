"""One client's connection to one namespace (and, from :mod:`jupyter_rt.server.remote`, the
handles on sockets anywhere in a cluster that ``fetch_sockets`` returns)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from jupyter_rt.errors import AckTimeout, ConnectionRefused, LimitExceeded, NotConnected
from jupyter_rt.protocol.events import DisconnectReason, Reason, ack_args
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server._util import (
    SENT,
    CallAck,
    Timed,
    Where,
    call_handler,
    check_event,
    handler_name,
    in_thread,
    log,
    report_error,
    room_names,
    run_sync,
    wants_ack,
)
from jupyter_rt.server.adapter import BroadcastOptions, SessionToPersist
from jupyter_rt.server.broadcast import BroadcastOperator, VolatileSocket
from jupyter_rt.server.handshake import SocketHandshake
from jupyter_rt.server.recovery import RECOVERABLE_REASONS, persist
from jupyter_rt.server.remote import RemoteSocket

if TYPE_CHECKING:
    from jupyter_rt.server.client import Client
    from jupyter_rt.server.connection import Connection
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.server import Server

__all__ = ["DisconnectReason", "RemoteSocket", "Socket", "SocketHandle", "SocketHandshake"]

H = TypeVar("H", bound=Callable[..., Any])
PacketMiddleware = Callable[[list[Any]], Any]
"""``middleware(packet)`` of :meth:`Socket.use`: sync or async, ``packet`` is ``[event, *args]``."""

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK
_SCREENING = "per-packet middleware"


class Socket:
    """A client connected to a namespace.

    Handlers registered with :meth:`on` get the event's arguments; what a handler returns is the
    acknowledgement (``None`` → no argument, a tuple → several). A handler with a keyword-only
    parameter ``ack`` (``def on_job(spec, *, ack)``) acknowledges by calling ``ack(*args)``
    instead, when it likes (once; later calls and calls when no ack was asked do nothing), and
    its return value is ignored. Reserved events: ``"disconnect"``
    and ``"disconnecting"``: handlers get a :class:`DisconnectReason` string; ``disconnecting``
    runs while the socket is still in its rooms (an async one only until its first ``await``).
    ``"error"`` handlers get what a per-packet middleware (:meth:`use`) raised (and, as in Node,
    whatever a client sends as an ``error`` event).

    The rest of the server talks to a socket through a few documented methods: the
    :class:`~jupyter_rt.server.client.Client` calls :meth:`start`, :meth:`receive` and
    :meth:`on_close`; adapters send with :meth:`deliver` and :meth:`expect_ack`.

    With connection state recovery on, a socket that lost its connection is kept for a while
    (:mod:`jupyter_rt.server.recovery`); :attr:`recovered` tells a connection handler that this
    one came back with its id, rooms, data and the packets it missed.
    """

    __slots__ = (
        "__weakref__",
        "_acks",
        "_any",
        "_client",
        "_deferred_close",
        "_handlers",
        "_packet_middleware",
        "_pending_handlers",
        "_queue",
        "_screening",
        "_session",
        "connected",
        "data",
        "handshake",
        "id",
        "nsp",
        "pid",
        "recovered",
        "server",
    )

    def __init__(
        self,
        nsp: Namespace,
        client: Client,
        handshake: SocketHandshake,
        sid: str,
        pid: str | None = None,
    ) -> None:
        self.id = sid
        """The socket id (per namespace; not the Engine.IO session id)."""
        self.pid = pid
        """The private id that recovers this socket's state (``None``: recovery is off). A
        secret of its client: never log it or send it to anyone else."""
        self.recovered = False
        """Whether the socket is one that lost its connection and came back with its state
        (connection state recovery)."""
        self.nsp = nsp
        self.server: Server = nsp.server
        self.handshake = handshake
        self.data: dict[str, Any] = {}
        """Free for the application (Node's ``socket.data``); fetch_sockets returns it too."""
        self.connected = False
        self._client = client
        self._session = client.session
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._any: list[Callable[..., Any]] = []
        self._acks: dict[int, Callable[[list[Any]], None]] = {}
        self._queue: list[Packet] | None = None
        """Events held: while connection handlers run, or behind an async per-packet
        middleware (``_screening``); ``None`` when none is held back."""
        self._packet_middleware: list[PacketMiddleware] = []
        self._screening = False
        self._pending_handlers = 0
        self._deferred_close: tuple[Reason, list[Callable[..., Any]]] | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return f"<Socket {self.id} {self.nsp.name} {state}>"

    # -- properties ---------------------------------------------------------------------------

    @property
    def rooms(self) -> frozenset[str]:
        """The rooms the socket is in, its own id included."""
        return frozenset(self.nsp.adapter.sids.get(self.id, ()))

    @property
    def conn(self) -> Connection:
        """The connection (Engine.IO session) under this socket, shared by the client's
        namespaces."""
        return self._session

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``."""
        return self._session.transport

    @property
    def broadcast(self) -> BroadcastOperator:
        """Everyone in the namespace but this socket; chain ``.to(room)`` to narrow."""
        return BroadcastOperator(self.nsp.adapter, except_=frozenset((self.id,)))

    @property
    def volatile(self) -> VolatileSocket:
        """``socket.volatile.emit(...)``: dropped if the client cannot take it right now."""
        return VolatileSocket(self)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Members of ``room`` but this socket."""
        return self.broadcast.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone but this socket and the members of ``room``."""
        return self.broadcast.except_(room)

    # -- handlers -----------------------------------------------------------------------------

    @overload
    def on(self, event: str, *, thread: bool = ...) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H, *, thread: bool = ...) -> H: ...
    def on(
        self, event: str, handler: H | None = None, *, thread: bool = False
    ) -> H | Callable[[H], H]:
        """Register a sync or async handler for ``event``; usable as a decorator.

        With several handlers for one event, all run and the first one's result is the ack.
        ``thread=True`` runs a sync handler in a worker thread (the loop's default executor),
        so slow work does not hold the event loop; its return value is still the ack, and its
        ``ack`` argument may be called from the thread. Nothing else of jupyter_rt is
        thread-safe: to emit from the thread, hand it to the loop
        (``loop.call_soon_threadsafe(socket.emit, "progress", 50)``).
        """

        def register(fn: H) -> H:
            self._handlers.setdefault(event, []).append(in_thread(fn) if thread else fn)
            if self._queue:
                self._drain()
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` for ``event``, or all of them."""
        if handler is None:
            self._handlers.pop(event, None)
            return
        handlers = self._handlers.get(event, [])
        for registered in handlers:  # == (not is): bound methods are new objects each time
            if registered == handler or getattr(registered, "__wrapped__", None) == handler:
                handlers.remove(registered)
                return

    def remove_all_listeners(self) -> None:
        """Remove every handler of this socket, catch-all ones too (Node's
        ``removeAllListeners``); its rooms and ``data`` stay."""
        self._handlers.clear()
        self._any.clear()

    def on_any(self, handler: H) -> H:
        """Call ``handler(event, *args)`` for every incoming event (before its own handlers)."""
        self._any.append(handler)
        return handler

    def off_any(self, handler: Callable[..., Any] | None = None) -> None:
        """Remove a catch-all handler, or all of them."""
        if handler is None:
            self._any.clear()
        elif handler in self._any:
            self._any.remove(handler)

    def use(self, middleware: PacketMiddleware) -> PacketMiddleware:
        """Run ``middleware(packet)`` on each incoming event before its handlers and the
        catch-all ones, in the order registered (Node's ``socket.use``); a decorator too.

        ``packet`` is the event as a list, ``[event, *args]``: change it in place to change
        what the handlers get. Sync or async, the middleware returns to let the event through,
        or raises to refuse it: no handler runs, no ack is sent, and the exception goes to the
        socket's ``"error"`` handlers (``@socket.on("error")``; logged if there are none).
        Events pass one at a time, in order: the next ones wait while an async one runs.
        """
        self._packet_middleware.append(middleware)
        return middleware

    # -- sending ------------------------------------------------------------------------------

    def emit(
        self, event: str, *args: Any, callback: Callable[..., Any] | None = None
    ) -> Awaitable[None]:
        """Send ``event`` with ``args`` to this client (``bytes`` anywhere go as binary).

        It is sent at once; the result may be awaited or ignored. ``callback(*ack_args)`` (sync or
        async) runs when the client acknowledges. Emitting on a disconnected socket does nothing,
        but with connection state recovery on: without ``callback`` it is kept (with an offset
        as its last argument, as every recoverable packet) for the socket when it comes back.
        """
        check_event(event)
        if callback is None and self.pid is not None:
            adapter = self.nsp.adapter
            if adapter.recovers_sessions:  # as in Node: a broadcast to its own room, kept
                packet = Packet(_EVENT, self.nsp.name, [event, *args])
                adapter.broadcast(packet, BroadcastOptions(frozenset((self.id,))))
                return SENT
        if not self.connected:
            return SENT
        data = [event, *args]
        if callback is None:
            frames = encode_fields(_EVENT, self.nsp.name, data)
            self._session.send(frames)
            if self.server.observer is not None:
                self.server.observer.event_sent(self.nsp, data, frames, (self,))
            return SENT
        ack_id = self.nsp.next_ack_id()
        frames = encode_fields(_EVENT, self.nsp.name, data, ack_id)
        tasks = self.server.tasks
        where = (self.nsp.name, f"ack of {event}")

        def on_ack(args: list[Any]) -> None:
            call_handler(tasks, callback, args, what="ack callback", where=where)

        self.expect_ack(ack_id, on_ack)
        self._session.send(frames)
        if self.server.observer is not None:
            self.server.observer.event_sent(self.nsp, data, frames, (self,))
        return SENT

    def send(self, *args: Any) -> Awaitable[None]:
        """``emit("message", *args)``."""
        return self.emit("message", *args)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> Any:
        """Emit ``event`` and wait for the client's ack; returns the ack's value.

        One argument → that value, none → ``None``, several → a tuple. Raises
        :class:`~jupyter_rt.errors.AckTimeout` after ``timeout`` seconds (``None``: wait until
        disconnect) and :class:`~jupyter_rt.errors.NotConnected` if the socket is or gets
        disconnected first.
        """
        check_event(event)
        if not self.connected:
            raise NotConnected(f"socket {self.id} is disconnected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        ack_id = self.nsp.next_ack_id()
        data = [event, *args]
        frames = encode_fields(_EVENT, self.nsp.name, data, ack_id)
        ack = CallAck(future)
        self.expect_ack(ack_id, ack)
        self._session.send(frames)
        if self.server.observer is not None:
            self.server.observer.event_sent(self.nsp, data, frames, (self,))
        timer = None
        if timeout is not None:
            error = AckTimeout(f"no ack for {event!r} within {timeout} s")
            clock = self.server.clock
            timer = clock.call_at(clock.now() + timeout, lambda: ack.fail(error))
        try:
            return await future
        except AckTimeout:  # only the timer above fails it so
            if self.server.observer is not None:
                self.server.observer.ack_timed_out(self.nsp)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._acks.pop(ack_id, None)

    def deliver(self, frames: list[str | bytes], volatile: bool = False) -> None:
        """Send already encoded frames to this client (adapters broadcast this way).

        ``volatile``: drop them if the client cannot take them right now. Nothing is checked:
        the caller encoded a packet of this socket's namespace.
        """
        session = self._session
        if not volatile or session.writable:
            session.send(frames)

    def expect_ack(self, ack_id: int, callback: Callable[[list[Any]], None]) -> None:
        """Call ``callback(args)`` once, when the client acknowledges ``ack_id`` (an id from
        :meth:`Namespace.next_ack_id <jupyter_rt.server.Namespace.next_ack_id>`). Dropped on
        disconnect; a :meth:`call` then fails with NotConnected."""
        self._acks[ack_id] = callback

    # -- rooms --------------------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        """Join one room or several. Raises LimitExceeded past ``max_rooms_per_socket``."""
        server = self.server
        names = room_names(rooms, server.max_name_length)
        if not self.connected:
            return
        adapter = self.nsp.adapter
        own = adapter.sids.get(self.id, set())
        new = sum(1 for name in set(names) if name not in own)
        if len(own) - 1 + new > server.max_rooms_per_socket:
            raise LimitExceeded(
                f"a socket can be in at most {server.max_rooms_per_socket} rooms",
                kind="max_rooms_per_socket",
            )
        adapter.add_all(self.id, names)

    def leave(self, rooms: str | Iterable[str]) -> None:
        """Leave one room or several."""
        names = room_names(rooms, self.server.max_name_length)
        adapter = self.nsp.adapter
        for name in names:
            adapter.delete(self.id, name)

    # -- disconnecting ------------------------------------------------------------------------

    def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace (the client is told; it will not reconnect).

        ``close=True`` closes the whole connection, all the client's namespaces.
        """
        if not self.connected:
            return
        if close:
            self._client.disconnect_all()
            return
        self._session.send(encode_fields(PacketType.DISCONNECT, self.nsp.name, None))
        self.on_close(DisconnectReason.SERVER_NAMESPACE_DISCONNECT)

    # -- the connection's side ----------------------------------------------------------------

    def on_close(self, reason: Reason) -> None:
        """The socket is gone (called by its connection): leave everything and run the
        disconnect handlers with ``reason`` (a :class:`DisconnectReason`). Nothing is sent to
        the client.

        While connection handlers still run, the events that came before the disconnect and
        then the disconnect handlers are delivered once they return, so that handlers they
        register late still see everything.
        """
        if not self.connected:
            return
        tasks = self.server.tasks
        disconnecting = list(self._handlers.get("disconnecting", ()))
        where = (self.nsp.name, "disconnecting")
        for handler in disconnecting:
            call_handler(tasks, handler, (reason,), what="disconnecting handler", where=where)
        adapter = self.nsp.adapter
        if self.pid is not None and reason in RECOVERABLE_REASONS:
            rooms = frozenset(adapter.sids.get(self.id, ()))
            kept = SessionToPersist(self.id, self.pid, rooms, self.data, self._session.credential)
            tasks.spawn(persist(adapter, kept))
        adapter.delete_all(self.id)
        self.connected = False
        self._client.remove_socket(self)
        acks = self._acks
        self._acks = {}
        for ack in acks.values():
            if isinstance(ack, CallAck):
                ack.fail(NotConnected(f"socket {self.id} disconnected ({reason})"))
        if self._pending_handlers or self._screening:
            self._deferred_close = (reason, disconnecting)
        else:
            self._queue = None
            self._run_disconnect_handlers(reason)
        self.nsp.remove_socket(self)
        if self.server.observer is not None:
            self.server.observer.socket_disconnected(self, reason)

    def _run_disconnect_handlers(self, reason: Reason) -> None:
        tasks = self.server.tasks
        where = (self.nsp.name, "disconnect")
        for handler in self._handlers.get("disconnect", ()):
            call_handler(tasks, handler, (reason,), what="disconnect handler", where=where)

    def start(self, queued: list[Packet]) -> None:
        """The socket is connected (called by its connection once CONNECT is sent): run the
        connection handlers with ``queued``, the events that came meanwhile, and hold incoming
        events until they have returned."""
        if self.server.observer is not None:
            self.server.observer.socket_connected(self)
        self._queue = queued
        tasks = self.server.tasks
        where = (self.nsp.name, "connection")
        for handler in self.nsp.connection_handlers():
            try:
                result = run_sync(tasks, handler, (self,), "connection handler", where)
            except ConnectionRefused as exc:
                log.info("Connection handler refused socket %s: %s", self.id, exc.message)
                self.disconnect()
                return
            except Exception as exc:
                report_error(tasks, exc, handler, "connection handler", where)
                continue
            if isinstance(result, Awaitable):
                self._pending_handlers += 1
                timed = Timed(result, tasks, handler, "connection handler", where)
                tasks.spawn(self._await_connection_handler(timed, handler))
        if self._pending_handlers == 0:
            self._drain()

    async def _await_connection_handler(
        self, awaitable: Awaitable[Any], handler: Callable[..., Any]
    ) -> None:
        try:
            await awaitable
        except ConnectionRefused as exc:
            log.info("Connection handler refused socket %s: %s", self.id, exc.message)
            self.disconnect()
        except NotConnected as exc:
            log.info("Socket %s left during its connection handler: %s", self.id, exc)
        except Exception as exc:
            where = (self.nsp.name, "connection")
            report_error(self.server.tasks, exc, handler, "connection handler", where)
        finally:
            self._pending_handlers -= 1
            if self._pending_handlers == 0:
                self._drain()

    def _drain(self) -> None:
        """Pass on the held events that may go: every one once the connection handlers have
        returned, while they run the first ones that have a handler; none while an async
        per-packet middleware runs. Once none is held, run a disconnect that waited."""
        queue = self._queue
        if queue is None:
            return
        while queue and not self._screening and self._queue is queue:
            if self._pending_handlers and queue[0].data[0] not in self._handlers:
                return
            self._screen(queue.pop(0), 0)
        if queue or self._screening or self._pending_handlers or self._queue is not queue:
            return
        self._queue = None
        deferred = self._deferred_close
        if deferred is not None:
            self._deferred_close = None
            reason, done = deferred
            where = (self.nsp.name, "disconnecting")
            for handler in list(self._handlers.get("disconnecting", ())):
                if handler not in done:
                    call_handler(
                        self.server.tasks,
                        handler,
                        (reason,),
                        what="disconnecting handler",
                        where=where,
                    )
            self._run_disconnect_handlers(reason)

    def receive(self, packet: Packet) -> None:
        """An EVENT or ACK packet for this socket (called by its connection)."""
        ptype = packet.type
        if ptype is _EVENT or ptype is PacketType.BINARY_EVENT:
            queue = self._queue
            if queue is None:
                if self._packet_middleware:
                    self._screen(packet, 0)
                else:
                    self._dispatch(packet)
            elif not queue and not self._screening and packet.data[0] in self._handlers:
                self._screen(packet, 0)
            else:
                self._client.check_queue(len(queue))
                queue.append(packet)
        else:  # ACK, BINARY_ACK
            assert packet.id is not None
            ack = self._acks.pop(packet.id, None)
            if ack is not None:
                ack(packet.data)

    def _screen(self, packet: Packet, start: int) -> None:
        """Run the per-packet middleware from ``start`` on ``packet``, then dispatch it."""
        chain = self._packet_middleware
        tasks = self.server.tasks
        data = packet.data
        for index in range(start, len(chain)):
            middleware = chain[index]
            where = (self.nsp.name, str(data[0]) if data else "?")
            try:
                result = run_sync(tasks, middleware, (data,), _SCREENING, where)
            except Exception as exc:
                self._refuse_packet(exc, middleware, where)
                return
            if isinstance(result, Awaitable):
                self._screening = True
                if self._queue is None:
                    self._queue = []
                timed = Timed(result, tasks, middleware, _SCREENING, where)
                tasks.spawn(self._await_screen(timed, packet, index + 1, middleware, where))
                return
        if chain and not (data and isinstance(data[0], str)):
            error = TypeError("a per-packet middleware left the event without a name")
            self._refuse_packet(error, chain[-1], (self.nsp.name, "?"))
            return
        self._dispatch(packet)

    async def _await_screen(
        self,
        result: Awaitable[Any],
        packet: Packet,
        nxt: int,
        middleware: PacketMiddleware,
        where: Where,
    ) -> None:
        try:
            await result
        except Exception as exc:
            self._screening = False
            self._refuse_packet(exc, middleware, where)
        except BaseException:
            self._screening = False
            raise
        else:
            self._screening = False
            self._screen(packet, nxt)  # may wait again, on the next async middleware
        self._drain()

    def _refuse_packet(self, exc: Exception, middleware: PacketMiddleware, where: Where) -> None:
        """A per-packet middleware refused an event: tell the ``error`` handlers, or log."""
        tasks = self.server.tasks
        handlers = self._handlers.get("error")
        if handlers:
            for handler in list(handlers):
                call_handler(tasks, handler, (exc,), what="error handler", where=where)
        elif isinstance(exc, ConnectionRefused):
            tasks.throttle.log(
                logging.INFO,
                ("refused", handler_name(middleware)),
                "%s refused event %s of socket %s on %s: %s (no error handler)",
                handler_name(middleware),
                where[1],
                self.id,
                where[0],
                exc.message,
            )
        else:
            report_error(tasks, exc, middleware, _SCREENING, where)

    def _dispatch(self, packet: Packet) -> None:
        data = packet.data
        event = data[0]
        args = data[1:]
        tasks = self.server.tasks
        where = (self.nsp.name, event)
        observer = self.server.observer
        if observer is not None:
            observer.event_received(self, data)
        if self._any:
            for handler in list(self._any):
                call_handler(tasks, handler, data, what="catch-all handler", where=where)
        handlers = self._handlers.get(event)
        if not handlers:
            return
        ack_id = packet.id
        first = True
        for handler in list(handlers):
            if wants_ack(handler):
                ack = self._explicit_ack(ack_id if first else None)
                call_handler(
                    tasks,
                    functools.partial(handler, ack=ack),
                    args,
                    what="handler",
                    where=where,
                    on_error=ack,
                )
            elif first and ack_id is not None:
                send = self._ack_sender(ack_id)
                call_handler(tasks, handler, args, send, "handler", where, on_error=send)
            else:
                call_handler(tasks, handler, args, what="handler", where=where)
            first = False

    def _ack_sender(self, ack_id: int) -> Callable[[Any], None]:
        def send_ack(result: Any) -> None:
            if not self.connected:
                return
            try:
                frames = encode_fields(_ACK, self.nsp.name, ack_args(result), ack_id)
            except (TypeError, ValueError):
                log.exception("Cannot send the ack of socket %s", self.id)
                return
            self._session.send(frames)

        return send_ack

    def _explicit_ack(self, ack_id: int | None) -> Callable[..., None]:
        """The ``ack(*args)`` a handler asked for: sends once; a no-op if none was requested."""
        pending = [self._ack_sender(ack_id)] if ack_id is not None else []

        def ack(*args: Any) -> None:
            if pending:
                pending.pop()(args)

        return ack


SocketHandle: TypeAlias = Socket | RemoteSocket
"""What ``fetch_sockets`` returns: local sockets as :class:`Socket`, others as RemoteSocket."""
