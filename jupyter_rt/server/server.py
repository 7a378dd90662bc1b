"""The Socket.IO server: namespaces over Engine.IO sessions."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from jupyter_rt._throttle import LogThrottle
from jupyter_rt.clock import Clock, LoopClock
from jupyter_rt.options import Options
from jupyter_rt.protocol.events import DisconnectReason, Reason
from jupyter_rt.server._util import TaskGroup, log
from jupyter_rt.server.adapter import Adapter, MemoryAdapter
from jupyter_rt.server.client import Client
from jupyter_rt.server.namespace import Middleware, Namespace, ParentNamespace
from jupyter_rt.server.observer import Observer, Observers
from jupyter_rt.server.recovery import RecoveryStore, SessionAwareAdapter

if TYPE_CHECKING:
    from jupyter_rt.server.broadcast import BroadcastOperator
    from jupyter_rt.server.connection import Connection
    from jupyter_rt.server.socket import SocketHandle

__all__ = ["AdapterFactory", "Client", "Server"]

H = TypeVar("H", bound=Callable[..., Any])

AdapterFactory = Callable[[Namespace], Adapter]
"""Builds the adapter of a namespace; an :class:`Adapter` subclass fits."""


class Server:
    """A Socket.IO v5 server.

    Mount it with ``jupyter_rt.transports.mount(app, io)``; the engine layer reads
    ``ping_interval``, ``ping_timeout`` (seconds), ``max_payload`` (bytes), ``connect_timeout``
    and ``transports``.
    The methods that act on "everyone" (``on``, ``use``, ``emit``, ``to``, ``fetch_sockets``...)
    act on the main namespace ``/``, as ``io.sockets`` does in Node: middleware registered with
    ``io.use`` guards ``/`` only; use ``io.of(name).use`` for other namespaces.

    Limits: ``max_attachments`` per packet, ``max_name_length`` for namespace and room names,
    ``max_rooms_per_socket``, ``max_dynamic_namespaces`` alive at once,
    ``max_namespaces_per_client`` (further CONNECTs are refused with ``"Too many namespaces"``),
    ``max_queued_events`` per socket while its connection handlers run. A client that breaks the
    protocol or a limit is disconnected (reason ``"parse error"``) and the reason is logged on
    the ``jupyter_rt`` logger.

    A handler that raises :class:`~jupyter_rt.errors.LimitExceeded` answers its client with an
    error ack (``{"ok": False, "error": message}``; other exceptions: ``"Internal server
    error"``), and the server logs it at most once a minute per kind (per handler, with the
    traceback, for other exceptions). A sync handler, middleware, or step of an async one, that
    holds the event loop longer than ``slow_handler_threshold`` seconds (``0``: never) is logged
    with its name, namespace and event, at most once a minute each.

    Connection state recovery (``connection_state_recovery=True``, or a
    :class:`~jupyter_rt.options.ConnectionStateRecovery`; off by default, as in Node) lets a
    client that lost its connection come back within ``max_disconnection_duration`` seconds
    with its socket id, rooms, ``socket.data`` and the packets it missed
    (:mod:`jupyter_rt.server.recovery`); without ``adapter``, the server then uses a
    :class:`~jupyter_rt.server.recovery.SessionAwareAdapter`. Every recoverable packet then
    carries its offset as its last argument, as in Node.

    ``clock`` runs the server's timers (ack timeouts of ``call``, recovery's expiry) and the log
    throttle's minute; the default is the running asyncio loop's, and tests pass a
    :class:`~jupyter_rt.clock.ManualClock` to move time by hand. ``mount(app, io)`` runs the
    engine's timers (the connect timeout, heartbeats) on the same clock.
    """

    def __init__(
        self,
        options: Options | None = None,
        *,
        adapter: AdapterFactory | None = None,
        clock: Clock | None = None,
        **changes: Any,
    ) -> None:
        """``options`` (or the defaults) with ``changes`` by name: ``Server(ping_timeout=5)``."""
        options = (options or Options()).with_changes(changes)
        self.options = options
        """Every setting of this server (:class:`jupyter_rt.options.Options`)."""
        self.ping_interval = options.ping_interval
        self.ping_timeout = options.ping_timeout
        self.max_payload = options.max_payload
        self.connect_timeout = options.connect_timeout
        self.transports = options.transports
        self.max_attachments = options.max_attachments
        self.max_name_length = options.max_name_length
        self.max_rooms_per_socket = options.max_rooms_per_socket
        self.max_dynamic_namespaces = options.max_dynamic_namespaces
        self.max_namespaces_per_client = options.max_namespaces_per_client
        self.max_queued_events = options.max_queued_events
        self.cleanup_empty_child_namespaces = options.cleanup_empty_child_namespaces
        slow_handler_threshold = options.slow_handler_threshold
        self.recovery = options.recovery
        """The connection state recovery settings, or ``None`` when it is off."""
        self._nsps: dict[str, Namespace] = {}
        self._parents: list[ParentNamespace] = []
        self._clients: dict[str, Client] = {}
        self.clock: Clock = clock if clock is not None else LoopClock()
        """The clock of the server's timers (ack timeouts); see :mod:`jupyter_rt.clock`."""
        self._tasks = TaskGroup(slow_handler_threshold, LogThrottle(log, clock=self.clock.now))
        if adapter is None and self.recovery is not None:
            store = RecoveryStore(self.recovery, self.clock, self._tasks.throttle)
            adapter = SessionAwareAdapter.factory(store)
        self._adapter_factory: AdapterFactory = adapter or MemoryAdapter
        self.observer: Observers | None = None
        """Who watches this server (:mod:`jupyter_rt.server.observer`), ``None`` when nobody
        does; read by the server's modules, changed with :meth:`add_observer`."""
        self._closed = False
        self._started = False
        self.sockets = self.of("/")
        """The main namespace ``/`` (Node's ``io.sockets``)."""

    def __repr__(self) -> str:
        return f"<Server namespaces={len(self._nsps)} clients={len(self._clients)}>"

    # -- namespaces ---------------------------------------------------------------------------

    @overload
    def of(self, name: str) -> Namespace: ...
    @overload
    def of(self, name: re.Pattern[str] | Callable[[str], bool]) -> ParentNamespace: ...
    def of(self, name: str | re.Pattern[str] | Callable[[str], bool]) -> Namespace:
        """The namespace ``name`` (created if needed; a leading ``/`` is added if missing).

        With a compiled pattern or a predicate, a :class:`ParentNamespace`: clients connecting to
        a matching name get a namespace made for it on demand.
        """
        if isinstance(name, str):
            if not name.startswith("/"):
                name = "/" + name
            nsp = self._nsps.get(name)
            if nsp is None:
                if len(name) > self.max_name_length:
                    raise ValueError(f"namespace name longer than {self.max_name_length}")
                nsp = self._nsps[name] = Namespace(self, name)
            return nsp
        for parent in self._parents:
            if parent.matcher is name or (
                isinstance(name, re.Pattern)
                and isinstance(parent.matcher, re.Pattern)
                and parent.matcher.pattern == name.pattern
                and parent.matcher.flags == name.flags
            ):
                return parent
        parent = ParentNamespace(self, name)
        self._parents.append(parent)
        return parent

    @property
    def namespaces(self) -> dict[str, Namespace]:
        """The namespaces by name (dynamic children included), as a snapshot."""
        return dict(self._nsps)

    def namespace(self, name: str) -> Namespace | None:
        """The namespace served as ``name`` (a dynamic child too), or ``None``; unlike
        :meth:`of`, nothing is created, and unlike :attr:`namespaces`, nothing is copied."""
        return self._nsps.get(name)

    # -- observers ----------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> None:
        """Tell ``observer`` (an :class:`~jupyter_rt.server.observer.Observer`) what this server
        does from now on: sessions, sockets, rooms, events, in every namespace."""
        members = () if self.observer is None else self.observer.members
        if observer not in members:
            self.observer = Observers((*members, observer), self._tasks.throttle)
            self._tasks.observer = self.observer

    def remove_observer(self, observer: Observer) -> None:
        """Stop telling ``observer``; nothing happens if it was not observing."""
        if self.observer is None:
            return
        members = tuple(o for o in self.observer.members if o is not observer)
        self.observer = Observers(members, self._tasks.throttle) if members else None
        self._tasks.observer = self.observer

    @property
    def sessions(self) -> list[Connection]:
        """The open Engine.IO sessions of this server's clients, as a snapshot."""
        return [client.session for client in self._clients.values()]

    # -- the connections' side (used by Client and ParentNamespace) ----------------------------

    @property
    def tasks(self) -> TaskGroup:
        """How the server runs app code (handlers, middleware, callbacks) and logs what it
        raises; for the server's modules."""
        return self._tasks

    @property
    def adapter_factory(self) -> AdapterFactory:
        """What builds each namespace's adapter (``Server(adapter=...)``)."""
        return self._adapter_factory

    def parent_for(self, name: str) -> ParentNamespace | None:
        """The dynamic namespace whose pattern ``name`` matches (a client connecting to
        ``name`` would get a child of it), or ``None``; nothing is created."""
        for parent in self._parents:
            if parent.matches(name):
                return parent
        return None

    def namespace_for(self, name: str) -> Namespace | None:
        """The namespace a client connecting to ``name`` joins: an existing one, a new child of
        a matching :class:`ParentNamespace`, or ``None`` (refused)."""
        nsp = self._nsps.get(name)
        if nsp is not None:
            return nsp
        for parent in self._parents:
            if parent.matches(name):
                children = sum(len(p.children) for p in self._parents)
                if children >= self.max_dynamic_namespaces:
                    log.warning("Refusing namespace %s: %d dynamic namespaces", name, children)
                    return None
                child = self._nsps[name] = parent.create_child(name)
                return child
        return None

    def attach_namespace(self, nsp: Namespace) -> None:
        """Serve ``nsp``, a namespace made for this server outside :meth:`of` (a subclass, say);
        raises ``ValueError`` if a namespace of that name exists."""
        if nsp.server is not self:
            raise ValueError(f"namespace {nsp.name} belongs to another server")
        if nsp.name in self._nsps:
            raise ValueError(f"namespace {nsp.name} exists")
        self._nsps[nsp.name] = nsp

    def forget_namespace(self, nsp: Namespace) -> None:
        """Stop serving ``nsp`` (a dynamic child left empty, or one given to
        :meth:`attach_namespace`); its adapter is the caller's to close."""
        if self._nsps.get(nsp.name) is nsp:
            del self._nsps[nsp.name]

    def forget_client(self, client: Client) -> None:
        """Drop a client the server closed (:meth:`Client.close`); the engine's close of its
        session then finds nothing."""
        if self._clients.get(client.session.sid) is client:
            del self._clients[client.session.sid]

    # -- the main namespace -------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """``@io.on("connection")``: handlers of the main namespace ``/``."""
        if handler is None:
            return self.sockets.on(event)
        return self.sockets.on(event, handler)

    def use(self, middleware: Middleware) -> Middleware:
        """Middleware of the main namespace ``/`` (see :meth:`Namespace.use`)."""
        return self.sockets.use(middleware)

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Send ``event`` to every socket of ``/``."""
        return self.sockets.emit(event, *args)

    def send(self, *args: Any) -> Awaitable[None]:
        """``emit("message", *args)`` to ``/``."""
        return self.sockets.send(*args)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Members of ``room`` in ``/``."""
        return self.sockets.to(room)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Everyone in ``/`` but the members of ``room``."""
        return self.sockets.except_(room)

    @property
    def volatile(self) -> BroadcastOperator:
        """Everyone in ``/``, volatile."""
        return self.sockets.volatile

    @property
    def local(self) -> BroadcastOperator:
        """Everyone in ``/`` on this server only."""
        return self.sockets.local

    def timeout(self, seconds: float) -> BroadcastOperator:
        """Everyone in ``/``, with an ack timeout for ``call``."""
        return self.sockets.timeout(seconds)

    async def call(self, event: str, *args: Any, timeout: float) -> list[Any]:
        """Emit to every socket of ``/`` and collect their acks."""
        return await self.sockets.call(event, *args, timeout=timeout)

    async def fetch_sockets(self) -> list[SocketHandle]:
        """Every socket of ``/``."""
        return await self.sockets.fetch_sockets()

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of ``/`` join ``rooms``."""
        self.sockets.sockets_join(rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make every socket of ``/`` leave ``rooms``."""
        self.sockets.sockets_leave(rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect every socket of ``/``."""
        self.sockets.disconnect_sockets(close)

    def server_side_emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Run ``/``'s ``event`` handlers on the other servers of the cluster."""
        return self.sockets.server_side_emit(event, *args)

    async def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> list[Any]:
        """Run ``/``'s ``event`` handlers on the other servers and return their answers
        (see :meth:`Namespace.server_side_call`)."""
        return await self.sockets.server_side_call(event, *args, timeout=timeout)

    @property
    def rooms(self) -> dict[str, list[str]]:
        """Every namespace's :attr:`Namespace.rooms`, merged (Socket.IO 0.9's ``manager.rooms``).

        ``{"": [ids in /], "/Lobby": [...], "/chat": [ids in /chat], "/chat/Cellar": [...]}``.
        """
        out: dict[str, list[str]] = {}
        for nsp in list(self._nsps.values()):
            out.update(nsp.rooms)
        return out

    async def fetch_rooms(self) -> dict[str, list[str]]:
        """Like :attr:`rooms`, across every server of the cluster."""
        out: dict[str, list[str]] = {}
        for nsp in list(self._nsps.values()):
            out.update(await nsp.fetch_rooms())
        return out

    async def ready(self) -> None:
        """Start the namespaces' adapters once the event loop runs; await it before serving.

        A cluster adapter connects and subscribes here, so this server receives the other
        servers' broadcasts and counts in the cluster before its first client arrives (the
        Jupyter extension awaits it at start). It raises what an adapter raises (for Redis:
        :class:`~jupyter_rt.adapters.redis.RedisUnavailable` if Redis cannot be reached; the
        adapter keeps trying by itself) and may be awaited again. If it was never awaited,
        the server starts the adapters at its first connection.
        """
        self._started = True
        if self.recovery is not None:
            for nsp in list(self._nsps.values()):
                if not nsp.adapter.recovers_sessions:
                    self._tasks.throttle.log(
                        logging.WARNING,
                        ("recovery", "adapter", nsp.name),
                        "Connection state recovery is on, but the adapter of %s (%s) keeps no "
                        "sessions: its clients get fresh sessions when they come back",
                        nsp.name,
                        type(nsp.adapter).__name__,
                    )
        results = await asyncio.gather(
            *(nsp.adapter.ready() for nsp in list(self._nsps.values())), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _start_in_background(self) -> None:
        try:
            await self.ready()
        except Exception as exc:
            log.warning("An adapter is not ready yet: %s: %s", type(exc).__name__, exc)

    async def close(self) -> None:
        """Disconnect everyone (reason ``"server shutting down"``) without telling the clients
        not to come back: they reconnect to the next server that listens. Sessions opened
        afterwards are dropped at once. The adapters are closed (``aclose``) before it returns.
        """
        self._closed = True
        for client in list(self._clients.values()):
            client.close(DisconnectReason.SERVER_SHUTTING_DOWN, notify=False)
        for nsp in list(self._nsps.values()):
            try:
                await nsp.adapter.aclose()
            except Exception:
                log.exception("Error closing the adapter of %s", nsp.name)

    # -- the engine listener ------------------------------------------------------------------

    def on_engine_open(self, session: Connection) -> None:
        """A new Engine.IO session: wait for its namespace CONNECTs."""
        if self.observer is not None:
            self.observer.session_opened(session)
        if self._closed:
            session.close(DisconnectReason.SERVER_SHUTTING_DOWN, notify=False)
            return
        if not self._started:
            self._started = True
            self._tasks.spawn(self._start_in_background())
        self._clients[session.sid] = Client(self, session)

    def on_engine_message(self, session: Connection, data: str | bytes) -> None:
        """An Engine.IO MESSAGE from the session."""
        client = self._clients.get(session.sid)
        if client is not None:
            observer = self.observer
            if observer is not None:
                observer.message_received(session, data)
            client.receive(data)

    def on_engine_close(self, session: Connection, reason: Reason) -> None:
        """The session is gone: its sockets disconnect with ``reason``."""
        client = self._clients.pop(session.sid, None)
        if client is not None:
            client.on_close(reason)
        if self.observer is not None:
            self.observer.session_closed(session, reason)
