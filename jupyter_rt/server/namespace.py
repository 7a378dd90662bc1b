"""Namespaces: ``io.of("/chat")``, and dynamic ones, ``io.of(re.compile(r"^/doc-\\w+$"))``."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from jupyter_rt._shrink import Shrinker
from jupyter_rt.protocol.events import CONNECTION_EVENTS, check_server_side_event
from jupyter_rt.protocol.socketio import Packet
from jupyter_rt.server._util import SENT, call_handler, log
from jupyter_rt.server.adapter import Adapter, BroadcastOptions
from jupyter_rt.server.broadcast import BroadcastOperator

if TYPE_CHECKING:
    from jupyter_rt.server.connection import NamespaceHost
    from jupyter_rt.server.server import Server
    from jupyter_rt.server.socket import Socket, SocketHandle

__all__ = ["Middleware", "Namespace", "ParentNamespace"]

H = TypeVar("H", bound=Callable[..., Any])

Middleware = Callable[["Socket"], "Awaitable[None] | None"]
"""``def mw(socket)`` or ``async def mw(socket)``: return to accept, raise
:class:`~jupyter_rt.errors.ConnectionRefused` to refuse."""


class Namespace:
    """A namespace: its sockets, middleware, connection handlers and adapter.

    ``on("connection")`` (or ``"connect"``) handlers get each new :class:`Socket`, sync or async.
    Any other event name registers a handler for :meth:`server_side_emit` and
    :meth:`server_side_call` from other servers (for a call, the first handler's return value is
    the answer).
    Broadcasting methods (``emit``, ``to``, ``fetch_sockets``...) act on the whole namespace.

    ``host``: when set (a :class:`~jupyter_rt.server.connection.NamespaceHost`), clients'
    CONNECTs and packets for this namespace go to it instead of the middleware and sockets here.
    """

    def __init__(self, server: Server, name: str, parent: ParentNamespace | None = None) -> None:
        self.server = server
        self.name = name
        self.parent = parent
        self.host: NamespaceHost | None = None
        self.sockets: dict[str, Socket] = {}
        """Connected sockets of this server, by id."""
        self._sockets_size = Shrinker()
        self._middlewares: list[Middleware] = []
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._ids = 0
        self._connecting = 0
        self.adapter: Adapter = self._make_adapter()
        self.adapter.init()

    def _make_adapter(self) -> Adapter:
        return self.server.adapter_factory(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} sockets={len(self.sockets)}>"

    def next_ack_id(self) -> int:
        """A new ack id, unique in this namespace (for :meth:`Socket.expect_ack
        <jupyter_rt.server.Socket.expect_ack>`; every socket's acks share the counter, so one
        broadcast can use one id)."""
        ack_id = self._ids
        self._ids = ack_id + 1
        return ack_id

    # -- registration -------------------------------------------------------------------------

    def use(self, middleware: Middleware) -> Middleware:
        """Run ``middleware(socket)`` before a socket connects; usable as a decorator.

        Middleware runs in registration order, sync or async; the socket is not connected yet
        (it cannot emit), but ``socket.handshake`` is set and ``socket.data`` can be filled.
        Raise :class:`~jupyter_rt.errors.ConnectionRefused` to refuse: the client gets a
        CONNECT_ERROR with its message and data. Any other exception refuses with
        ``"Internal server error"`` and is logged.
        """
        self._middlewares.append(middleware)
        return middleware

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler; usable as a decorator (``@nsp.on("connection")``)."""

        def register(fn: H) -> H:
            key = "connection" if event in CONNECTION_EVENTS else event
            self._handlers.setdefault(key, []).append(fn)
            return fn

        return register if handler is None else register(handler)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` for ``event``, or all of them."""
        key = "connection" if event in CONNECTION_EVENTS else event
        if handler is None:
            self._handlers.pop(key, None)
        elif handler in self._handlers.get(key, ()):
            self._handlers[key].remove(handler)

    def reset(self) -> None:
        """Remove every middleware and handler of this namespace, for code that defines it again
        (a re-run notebook cell); connected sockets keep theirs
        (:meth:`Socket.remove_all_listeners <jupyter_rt.server.Socket.remove_all_listeners>`)."""
        self._middlewares = []
        self._handlers = {}

    # -- the connections' side ----------------------------------------------------------------

    def middleware_chain(self) -> list[Middleware]:
        """The middleware a connecting socket goes through: the parent's, then this one's."""
        if self.parent is None:
            return self._middlewares
        return [*self.parent._middlewares, *self._middlewares]

    def connection_handlers(self) -> list[Callable[..., Any]]:
        """The connection handlers a new socket gets: the parent's, then this one's."""
        own = self._handlers.get("connection", [])
        if self.parent is None:
            return list(own)
        return [*self.parent._handlers.get("connection", ()), *own]

    def connecting_started(self) -> None:
        """A socket entered the middleware; a dynamic namespace is kept until
        :meth:`connecting_ended`."""
        self._connecting += 1

    def connecting_ended(self, socket: Socket | None = None) -> None:
        """A socket left the middleware: admitted (``socket``: it joins :attr:`sockets` and
        its own room), or refused or given up (``None``: a dynamic namespace left empty goes)."""
        self._connecting -= 1
        if socket is None:
            self._maybe_cleanup()
            return
        self.sockets[socket.id] = socket
        self._sockets_size.grew(len(self.sockets))
        self.adapter.add_all(socket.id, (socket.id,))

    def remove_socket(self, socket: Socket) -> None:
        """``socket`` disconnected (called by the socket once it left its rooms)."""
        self.sockets.pop(socket.id, None)
        self._sockets_size.shrunk(self.sockets)
        self._maybe_cleanup()

    def _maybe_cleanup(self) -> None:
        parent = self.parent
        if (
            parent is not None
            and not self.sockets
            and self._connecting == 0
            and self.server.cleanup_empty_child_namespaces
        ):
            parent._remove_child(self)

    @property
    def rooms(self) -> dict[str, list[str]]:
        """A snapshot in the format of Socket.IO 0.9's ``manager.rooms``.

        The namespace's sockets under its name (``""`` for ``/``), each room under the namespace
        name + ``/`` + the room (``"/Lobby"`` in ``/``, ``"/chat/Cellar"`` in ``/chat``). Rooms
        named after a socket id (each socket's own room) are left out. Local sockets only; see
        :meth:`fetch_rooms` for a cluster.
        """
        prefix = "" if self.name == "/" else self.name
        out = {prefix: list(self.sockets)}
        sids = self.adapter.sids
        for room, members in self.adapter.rooms.items():
            if room not in sids:
                out[f"{prefix}/{room}"] = list(members)
        return out

    async def fetch_rooms(self) -> dict[str, list[str]]:
        """Like :attr:`rooms`, across every server of the cluster (through ``fetch_sockets``)."""
        prefix = "" if self.name == "/" else self.name
        sockets = await self.fetch_sockets()
        ids = {s.id for s in sockets}
        out: dict[str, list[str]] = {prefix: [s.id for s in sockets]}
        for socket in sockets:
            for room in socket.rooms:
                if room not in ids:
                    out.setdefault(f"{prefix}/{room}", []).append(socket.id)
        return out

    # -- broadcasting -------------------------------------------------------------------------

    def _operator(self) -> BroadcastOperator:
        return BroadcastOperator(self.adapter)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """The members of ``room`` (one name or several)."""
        return self._operator().to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone but the members of ``room``."""
        return self._operator().except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """Everyone, dropping the packet for clients that cannot take it now."""
        return self._operator().volatile

    @property
    def local(self) -> BroadcastOperator:
        """Everyone on this server only."""
        return self._operator().local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Everyone, with a default ack timeout for :meth:`BroadcastOperator.call`."""
        return self._operator().timeout(seconds)

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Send ``event`` to every socket of the namespace (encoded once)."""
        return self._operator().emit(event, *args)

    def send(self, *args: Any) -> Awaitable[None]:
        """``emit("message", *args)``."""
        return self.emit("message", *args)

    async def call(self, event: str, *args: Any, timeout: float) -> list[Any]:
        """Emit to every socket and collect their acks (see :meth:`BroadcastOperator.call`)."""
        return await self._operator().call(event, *args, timeout=timeout)

    async def fetch_sockets(self) -> list[SocketHandle]:
        """Every socket of the namespace (local ones as :class:`Socket`)."""
        return await self._operator().fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket join ``rooms``."""
        self._operator().sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket leave ``rooms``."""
        self._operator().sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket (``close``: their whole connections)."""
        self._operator().disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Run this namespace's ``event`` handlers on the *other* servers of the cluster."""
        check_server_side_event(event)
        self.adapter.server_side_emit([event, *args])
        return SENT

    async def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Run ``event`` handlers on the *other* servers and return their answers.

        Each other server answers with the return value of its first handler for ``event``
        (sync or async), in arrival order; ``[]`` without a cluster. The adapter raises (for
        Redis: :class:`~jupyter_rt.adapters.redis.ClusterTimeout`, with the answers that came)
        if some server does not answer within ``timeout`` seconds (``None``: the adapter's
        default), e.g. because it has no handler or the handler raised.
        """
        check_server_side_event(event)
        return await self.adapter.server_side_emit_with_ack([event, *args], timeout)

    def on_server_side_emit(
        self, packet: list[Any], ack: Callable[[Any], None] | None = None
    ) -> None:
        """Called by a cluster adapter with ``[event, *args]`` from another server.

        With ``ack``, the first handler's return value (awaited if need be; ``None`` too) is
        passed to ``ack`` once; if that handler raises, or there is none, ``ack`` is not called.
        """
        if not packet or not isinstance(packet[0], str) or packet[0] in CONNECTION_EVENTS:
            log.warning("Dropping a malformed server-side event in %s", self.name)
            return
        on_first = None if ack is None else _guarded(ack, packet[0])
        for index, handler in enumerate(list(self._handlers.get(packet[0], ()))):
            call_handler(
                self.server.tasks,
                handler,
                packet[1:],
                on_first if index == 0 else None,
                what="server-side handler",
                where=(self.name, packet[0]),
            )


def _guarded(ack: Callable[[Any], None], event: str) -> Callable[[Any], None]:
    def answer(result: Any) -> None:
        try:
            ack(result)
        except Exception:
            log.exception("Cannot answer the server-side event %r", event)

    return answer


class _ParentAdapter(Adapter):
    """Broadcasts of a :class:`ParentNamespace` reach every child namespace."""

    nsp: ParentNamespace

    def broadcast(self, packet: Packet, opts: BroadcastOptions) -> None:
        for child in list(self.nsp.children):
            child.adapter.broadcast(_renamed(packet, child.name), opts)

    def broadcast_with_ack(
        self,
        packet: Packet,
        opts: BroadcastOptions,
        client_count_callback: Callable[[int], None],
        ack: Callable[[list[Any]], None],
    ) -> None:
        total = 0

        def count(clients: int) -> None:
            nonlocal total
            total += clients

        for child in list(self.nsp.children):
            child.adapter.broadcast_with_ack(_renamed(packet, child.name), opts, count, ack)
        client_count_callback(total)

    async def fetch_sockets(self, opts: BroadcastOptions) -> list[SocketHandle]:
        out: list[SocketHandle] = []
        for child in list(self.nsp.children):
            out.extend(await child.adapter.fetch_sockets(opts))
        return out

    def add_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        for child in list(self.nsp.children):
            child.adapter.add_sockets(opts, rooms)

    def del_sockets(self, opts: BroadcastOptions, rooms: Iterable[str]) -> None:
        rooms = list(rooms)
        for child in list(self.nsp.children):
            child.adapter.del_sockets(opts, rooms)

    def disconnect_sockets(self, opts: BroadcastOptions, close: bool) -> None:
        for child in list(self.nsp.children):
            child.adapter.disconnect_sockets(opts, close)


def _renamed(packet: Packet, nsp: str) -> Packet:
    return Packet(packet.type, nsp, packet.data, packet.id)


class ParentNamespace(Namespace):
    """Namespaces created on demand for names that match a pattern.

    ``io.of(re.compile(r"^/doc-\\w+$"))`` (or ``io.of(lambda name: ...)``) returns one. Its
    middleware and connection handlers apply to every child (also to children created before they
    were registered); ``emit`` and the other broadcasting methods reach every child. A child is
    dropped once its last socket leaves (``Server(cleanup_empty_child_namespaces=False)`` keeps
    them). Broadcasts from the parent reach the children of this server only, and
    ``server_side_emit``/``server_side_call`` are not supported on the parent itself.
    """

    def __init__(self, server: Server, matcher: re.Pattern[str] | Callable[[str], bool]) -> None:
        self.matcher = matcher
        self.children: set[Namespace] = set()
        label = matcher.pattern if isinstance(matcher, re.Pattern) else repr(matcher)
        super().__init__(server, f"<dynamic {label}>")

    def _make_adapter(self) -> Adapter:
        return _ParentAdapter(self)

    def matches(self, name: str) -> bool:
        """Whether a client connecting to ``name`` gets a child (a pattern must match all of it)."""
        if isinstance(self.matcher, re.Pattern):
            return self.matcher.fullmatch(name) is not None
        try:
            return bool(self.matcher(name))
        except Exception:
            log.exception("Error in namespace matcher %r", self.matcher)
            return False

    def create_child(self, name: str) -> Namespace:
        """A new child namespace ``name`` (called by the server, which registers it)."""
        child = Namespace(self.server, name, parent=self)
        self.children.add(child)
        return child

    def _remove_child(self, child: Namespace) -> None:
        self.children.discard(child)
        self.server.forget_namespace(child)
        child.adapter.close()

    @property
    def rooms(self) -> dict[str, list[str]]:
        """The :attr:`Namespace.rooms` of every child, merged."""
        out: dict[str, list[str]] = {}
        for child in list(self.children):
            out.update(child.rooms)
        return out

    def server_side_emit(self, event: str, *args: Any) -> Awaitable[None]:
        raise NotImplementedError("server_side_emit is not supported on a dynamic parent")

    async def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        raise NotImplementedError("server_side_call is not supported on a dynamic parent")
