"""One client's connection to one namespace, and handles on sockets anywhere in a cluster."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, overload

from jupyter_rt.errors import AckTimeout, ConnectionRefused, LimitExceeded, NotConnected
from jupyter_rt.protocol.events import DisconnectReason, Reason, ack_args, ack_value
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server._util import (
    SENT,
    Timed,
    call_handler,
    check_event,
    in_thread,
    log,
    report_error,
    room_names,
    run_sync,
    wants_ack,
)
from jupyter_rt.server.adapter import BroadcastOptions
from jupyter_rt.server.broadcast import BroadcastOperator
from jupyter_rt.server.handshake import SocketHandshake

if TYPE_CHECKING:
    from jupyter_rt.server.adapter import Adapter
    from jupyter_rt.server.client import Client
    from jupyter_rt.server.connection import Connection
    from jupyter_rt.server.namespace import Namespace
    from jupyter_rt.server.server import Server

__all__ = ["DisconnectReason", "RemoteSocket", "Socket", "SocketHandle", "SocketHandshake"]

H = TypeVar("H", bound=Callable[..., Any])

_EVENT = PacketType.EVENT
_ACK = PacketType.ACK


class _CallAck:
    """The ack of a :meth:`Socket.call`: resolves its future, fails it on disconnect."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future

    def __call__(self, args: list[Any]) -> None:
        if not self.future.done():
            self.future.set_result(ack_value(args))

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Socket:
    """A client connected to a namespace.

    Handlers registered with :meth:`on` get the event's arguments; what a handler returns is the
    acknowledgement (``None`` → no argument, a tuple → several). A handler with a keyword-only
    parameter ``ack`` (``def on_job(spec, *, ack)``) acknowledges by calling ``ack(*args)``
    instead, when it likes (once; later calls and calls when no ack was asked do nothing), and
    its return value is ignored. Reserved events: ``"disconnect"``
    and ``"disconnecting"``: handlers get a :class:`DisconnectReason` string; ``disconnecting``
    runs while the socket is still in its rooms (an async one only until its first ``await``).

    The rest of the server talks to a socket through a few documented methods: the
    :class:`~jupyter_rt.server.client.Client` calls :meth:`start`, :meth:`receive` and
    :meth:`on_close`; adapters send with :meth:`deliver` and :meth:`expect_ack`.
    """

    __slots__ = (
        "__weakref__",
        "_acks",
        "_any",
        "_client",
        "_deferred_close",
        "_handlers",
        "_pending_handlers",
        "_queue",
        "_session",
        "connected",
        "data",
        "handshake",
        "id",
        "nsp",
        "server",
    )

    def __init__(
        self, nsp: Namespace, client: Client, handshake: SocketHandshake, sid: str
    ) -> None:
        self.id = sid
        """The socket id (per namespace; not the Engine.IO session id)."""
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
                self._deliver_ready()
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

    # -- sending ------------------------------------------------------------------------------

    def emit(
        self, event: str, *args: Any, callback: Callable[..., Any] | None = None
    ) -> Awaitable[None]:
        """Send ``event`` with ``args`` to this client (``bytes`` anywhere go as binary).

        It is sent at once; the result may be awaited or ignored. ``callback(*ack_args)`` (sync or
        async) runs when the client acknowledges. Emitting on a disconnected socket does nothing.
        """
        check_event(event)
        if not self.connected:
            return SENT
        if callback is None:
            self._session.send(encode_fields(_EVENT, self.nsp.name, [event, *args]))
            return SENT
        ack_id = self.nsp.next_ack_id()
        frames = encode_fields(_EVENT, self.nsp.name, [event, *args], ack_id)
        tasks = self.server.tasks
        where = (self.nsp.name, f"ack of {event}")

        def on_ack(args: list[Any]) -> None:
            call_handler(tasks, callback, args, what="ack callback", where=where)

        self.expect_ack(ack_id, on_ack)
        self._session.send(frames)
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
        frames = encode_fields(_EVENT, self.nsp.name, [event, *args], ack_id)
        ack = _CallAck(future)
        self.expect_ack(ack_id, ack)
        self._session.send(frames)
        timer = None
        if timeout is not None:
            error = AckTimeout(f"no ack for {event!r} within {timeout} s")
            clock = self.server.clock
            timer = clock.call_at(clock.now() + timeout, lambda: ack.fail(error))
        try:
            return await future
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
        self.nsp.adapter.delete_all(self.id)
        self.connected = False
        self._client.remove_socket(self)
        acks = self._acks
        self._acks = {}
        for ack in acks.values():
            if isinstance(ack, _CallAck):
                ack.fail(NotConnected(f"socket {self.id} disconnected ({reason})"))
        if self._pending_handlers:
            self._deferred_close = (reason, disconnecting)
        else:
            self._queue = None
            self._run_disconnect_handlers(reason)
        self.nsp.remove_socket(self)

    def _run_disconnect_handlers(self, reason: Reason) -> None:
        tasks = self.server.tasks
        where = (self.nsp.name, "disconnect")
        for handler in self._handlers.get("disconnect", ()):
            call_handler(tasks, handler, (reason,), what="disconnect handler", where=where)

    def start(self, queued: list[Packet]) -> None:
        """The socket is connected (called by its connection once CONNECT is sent): run the
        connection handlers with ``queued``, the events that came meanwhile, and hold incoming
        events until they have returned."""
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
            self._release_queue()

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
                self._release_queue()

    def _release_queue(self) -> None:
        queue = self._queue
        self._queue = None
        if queue:
            for packet in queue:
                self._dispatch(packet)
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

    def _deliver_ready(self) -> None:
        """While connection handlers run: deliver queued events that now have a handler."""
        queue = self._queue
        while queue and queue[0].data[0] in self._handlers:
            self._dispatch(queue.pop(0))

    def receive(self, packet: Packet) -> None:
        """An EVENT or ACK packet for this socket (called by its connection)."""
        ptype = packet.type
        if ptype == _EVENT or ptype == PacketType.BINARY_EVENT:
            queue = self._queue
            if queue is None or (not queue and packet.data[0] in self._handlers):
                self._dispatch(packet)
            else:
                self._client.check_queue(len(queue))
                queue.append(packet)
        else:  # ACK, BINARY_ACK
            assert packet.id is not None
            ack = self._acks.pop(packet.id, None)
            if ack is not None:
                ack(packet.data)

    def _dispatch(self, packet: Packet) -> None:
        data = packet.data
        event = data[0]
        args = data[1:]
        tasks = self.server.tasks
        where = (self.nsp.name, event)
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


class VolatileSocket:
    """``socket.volatile``: emits that are dropped if the client cannot take them now."""

    __slots__ = ("_socket",)

    def __init__(self, socket: Socket) -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        check_event(event)
        socket = self._socket
        if socket.connected:
            socket.deliver(encode_fields(_EVENT, socket.nsp.name, [event, *args]), volatile=True)
        return SENT


class RemoteSocket:
    """A socket that may live on another server, as ``fetch_sockets`` returns it.

    Operations go through the adapter, so they work wherever the socket is.
    """

    __slots__ = ("_adapter", "data", "handshake", "id", "rooms")

    def __init__(
        self,
        adapter: Adapter,
        id: str,
        handshake: SocketHandshake,
        rooms: frozenset[str],
        data: Any,
    ) -> None:
        self._adapter = adapter
        self.id = id
        self.handshake = handshake
        self.rooms = rooms
        self.data = data

    def __repr__(self) -> str:
        return f"<RemoteSocket {self.id} {self._adapter.nsp.name}>"

    def _only(self) -> BroadcastOptions:
        return BroadcastOptions(rooms=frozenset((self.id,)))

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Send ``event`` to this socket."""
        return BroadcastOperator(self._adapter, rooms=frozenset((self.id,))).emit(event, *args)

    def join(self, rooms: str | Iterable[str]) -> None:
        """Make the socket join rooms."""
        names = room_names(rooms, self._adapter.nsp.server.max_name_length)
        self._adapter.add_sockets(self._only(), names)

    def leave(self, rooms: str | Iterable[str]) -> None:
        """Make the socket leave rooms."""
        names = room_names(rooms, self._adapter.nsp.server.max_name_length)
        self._adapter.del_sockets(self._only(), names)

    def disconnect(self, close: bool = False) -> None:
        """Disconnect the socket (``close``: its whole connection)."""
        self._adapter.disconnect_sockets(self._only(), close)


SocketHandle: TypeAlias = Socket | RemoteSocket
"""What ``fetch_sockets`` returns: local sockets as :class:`Socket`, others as RemoteSocket."""
