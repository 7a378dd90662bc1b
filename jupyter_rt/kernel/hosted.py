"""``host(name)``: a namespace served by this kernel on its Jupyter server's own port.

::

    from jupyter_rt.kernel import host

    poll = host("/poll")
    votes = {}

    @poll.on("connection")
    def on_connection(socket):
        socket.join("voters")

        @socket.on("vote")
        def vote(choice):
            votes[choice] = votes.get(choice, 0) + 1
            poll.to("voters").emit("tally", votes)
            return {"ok": True}

What :func:`host` returns is a :class:`HostedNamespace`: the API of a server namespace
(:class:`jupyter_rt.Namespace`), safe to use from the cell's thread. Handlers run on the
hosting thread (so they run while a cell is busy) and get real :class:`jupyter_rt.Socket`
objects; use a socket from its handlers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Generic, TypeVar, overload

from jupyter_rt.errors import HostingError
from jupyter_rt.kernel.output import cell_parent
from jupyter_rt.kernel.runtime import CONNECT_TIMEOUT, Runtime
from jupyter_rt.protocol.events import CONNECTION_EVENTS
from jupyter_rt.server import BroadcastOperator, Middleware, Namespace, Socket, SocketHandle
from jupyter_rt.server._util import SENT, call_handler

__all__ = ["Answer", "HostedNamespace", "HostedOperator", "host"]

log = logging.getLogger("jupyter_rt.kernel")

T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., Any])

HOLD_SECONDS = 1.0
"""Seconds after ``host()`` at most that new clients wait for the cell to finish defining the
namespace (they are let in when the cell has run, if sooner)."""


class Answer(Generic[T]):
    """The result of a request made off the hosting thread: ``await`` it (in any event loop,
    a cell's too) or block on :meth:`result`."""

    __slots__ = ("_future",)

    def __init__(self, future: concurrent.futures.Future[T]) -> None:
        self._future = future

    def __await__(self) -> Generator[Any, None, T]:
        return asyncio.wrap_future(self._future).__await__()

    def result(self, timeout: float | None = None) -> T:
        """Block until the answer is there; raises what the request raised."""
        return self._future.result(timeout)


def _answer(runtime: Runtime, make: Callable[[], Awaitable[T]]) -> Awaitable[T]:
    if runtime.on_loop:
        return make()

    async def run() -> T:
        return await make()

    return Answer(runtime.submit(run()))


class HostedOperator:
    """A selection of a hosted namespace's sockets (``poll.to("room")``), like
    :class:`jupyter_rt.BroadcastOperator` and safe from any thread."""

    __slots__ = ("_operator", "_runtime")

    def __init__(self, runtime: Runtime, operator: BroadcastOperator) -> None:
        self._runtime = runtime
        self._operator = operator

    def __repr__(self) -> str:
        return repr(self._operator).replace("BroadcastOperator", "HostedOperator", 1)

    def to(self, room: str | Iterable[str]) -> HostedOperator:
        """Also the members of ``room``."""
        return HostedOperator(self._runtime, self._operator.to(room))

    in_ = to

    def except_(self, room: str | Iterable[str]) -> HostedOperator:
        """Leave out the members of ``room``."""
        return HostedOperator(self._runtime, self._operator.except_(room))

    @property
    def volatile(self) -> HostedOperator:
        return HostedOperator(self._runtime, self._operator.volatile)

    @property
    def local(self) -> HostedOperator:
        return HostedOperator(self._runtime, self._operator.local)

    def timeout(self, seconds: float) -> HostedOperator:
        return HostedOperator(self._runtime, self._operator.timeout(seconds))

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Send ``event`` to the selection (the Jupyter server writes it to each member)."""
        self._runtime.run(self._operator.emit, event, *args)
        return SENT

    def call(self, event: str, *args: Any, timeout: float | None = None) -> Awaitable[list[Any]]:
        """Emit asking each member for an ack; await the list of their acks."""
        operator = self._operator
        return _answer(self._runtime, lambda: operator.call(event, *args, timeout=timeout))

    def fetch_sockets(self) -> Awaitable[list[SocketHandle]]:
        """Await the selected sockets (this kernel's as :class:`jupyter_rt.Socket`)."""
        return _answer(self._runtime, self._operator.fetch_sockets)

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        self._runtime.run(self._operator.sockets_join, rooms)

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        self._runtime.run(self._operator.sockets_leave, rooms)

    def disconnect_sockets(self, close: bool = False) -> None:
        self._runtime.run(self._operator.disconnect_sockets, close)


class HostedNamespace(HostedOperator):
    """A namespace this kernel hosts: ``on``, ``use``, ``emit``, ``to``... as a server
    namespace has them (:class:`jupyter_rt.Namespace`).

    Calling :func:`host` again for the same name (a re-run cell) defines it again: its
    middleware and handlers are dropped, and so are the handlers of the sockets already
    connected (their rooms and ``data`` stay); each ``on("connection")`` handler registered
    afterwards also runs on them. New clients wait until the cell that called ``host()`` has
    run (at most :data:`HOLD_SECONDS`), so the middleware it registers applies to all of them.
    :meth:`close` gives the name up.
    """

    __slots__ = ("_gate", "_hold", "_nsp", "name")

    def __init__(self, runtime: Runtime, nsp: Namespace) -> None:
        super().__init__(runtime, BroadcastOperator(nsp.adapter))
        self._nsp = nsp
        self.name = nsp.name
        self._gate = asyncio.Event()
        self._hold: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._nsp.sockets)} sockets"
        return f"<HostedNamespace {self.name} {state}>"

    @property
    def namespace(self) -> Namespace:
        """The namespace in the kernel's server (use it on the hosting thread only)."""
        return self._nsp

    @property
    def closed(self) -> bool:
        """Whether the name was given up (:meth:`close`, or lost after a reconnection)."""
        return self._runtime.names.get(self.name) is not self._nsp

    # -- defining -----------------------------------------------------------------------------

    def define(self) -> None:
        """Start (again) from no middleware and no handlers (on the hosting thread)."""
        nsp = self._nsp
        nsp.reset()
        for socket in list(nsp.sockets.values()):
            socket.remove_all_listeners()
        self._gate.clear()
        nsp.use(self._wait_for_definition)
        if self._hold is not None:
            self._hold.cancel()
        self._hold = self._runtime.loop.call_later(HOLD_SECONDS, self._gate.set)

    def let_in(self) -> None:
        """The defining cell has run: let the waiting clients in (from any thread)."""
        self._runtime.loop.call_soon_threadsafe(self._gate.set)

    def _wait_for_definition(self, socket: Socket) -> Awaitable[None] | None:
        return None if self._gate.is_set() else self._until_defined()

    async def _until_defined(self) -> None:
        await self._gate.wait()

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...
    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Register a handler (``@poll.on("connection")``); a connection handler also runs on
        the sockets already connected."""

        def register(fn: H) -> H:
            self._runtime.run(self._register, event, fn)
            return fn

        return register if handler is None else register(handler)

    def _register(self, event: str, handler: Callable[..., Any]) -> None:
        nsp = self._nsp
        nsp.on(event, handler)
        if event in CONNECTION_EVENTS:
            tasks = nsp.server.tasks
            where = (self.name, "connection")
            for socket in list(nsp.sockets.values()):
                if socket.connected:
                    call_handler(tasks, handler, (socket,), what="connection handler", where=where)

    def off(self, event: str, handler: Callable[..., Any] | None = None) -> None:
        """Remove ``handler`` for ``event``, or all of them."""
        self._runtime.run(self._nsp.off, event, handler)

    def use(self, middleware: Middleware) -> Middleware:
        """Run ``middleware(socket)`` before a socket connects (see
        :meth:`jupyter_rt.Namespace.use`); usable as a decorator."""
        self._runtime.run(self._nsp.use, middleware)
        return middleware

    # -- the namespace ------------------------------------------------------------------------

    def send(self, *args: Any) -> Awaitable[None]:
        """``emit("message", *args)``."""
        return self.emit("message", *args)

    @property
    def sockets(self) -> dict[str, Socket]:
        """The connected sockets by id, as a snapshot."""
        return self._runtime.run(lambda: dict(self._nsp.sockets))

    @property
    def rooms(self) -> dict[str, list[str]]:
        """The rooms and their members, as :attr:`jupyter_rt.Namespace.rooms` has them."""
        return self._runtime.run(lambda: self._nsp.rooms)

    def server_side_emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Run this namespace's ``event`` handlers on the other servers (with Redis)."""
        self._runtime.run(self._nsp.server_side_emit, event, *args)
        return SENT

    def server_side_call(
        self, event: str, *args: Any, timeout: float | None = None
    ) -> Awaitable[list[Any]]:
        """Await the other servers' answers (see :meth:`jupyter_rt.Namespace.server_side_call`)."""
        nsp = self._nsp
        return _answer(self._runtime, lambda: nsp.server_side_call(event, *args, timeout=timeout))

    def close(self) -> None:
        """Give the name up: its clients are disconnected (they reconnect, and wait for it to
        be hosted again)."""
        if not self.closed:
            self._runtime.wait(self._runtime.release(self.name), CONNECT_TIMEOUT)

    def lost(self, error: str) -> None:
        """The name could not be held again after the tunnel came back (on the hosting loop)."""
        log.error("%s is no longer hosted by this kernel: %s", self.name, error)
        self._runtime.drop(self.name)


def host(name: str, *, url: str | None = None, token: str | None = None) -> HostedNamespace:
    """Host namespace ``name`` on the Jupyter server of this kernel and return it.

    Clients reach it at ``{base_url}socket.io/`` namespace ``name``, with the server's usual
    auth. The server is found as :func:`jupyter_rt.client.find_server` finds it (or give
    ``url`` and ``token``). Calling it again for a name this kernel hosts defines the
    namespace again (see :class:`HostedNamespace`). Raises
    :class:`~jupyter_rt.errors.HostingError` if another kernel holds the name, it is reserved
    or served by the Jupyter server itself, or a limit is reached.
    """
    runtime = Runtime.get(url, token)
    if runtime.on_loop:
        raise HostingError("call host() from a cell, not from a handler")
    parent = cell_parent()
    hosted = runtime.wait(_host(runtime, name), CONNECT_TIMEOUT)
    runtime.output.remember(hosted.name, parent)
    _let_in_after_this_cell(hosted)
    return hosted


_hosted: dict[str, HostedNamespace] = {}


async def _host(runtime: Runtime, name: str) -> HostedNamespace:
    if not name.startswith("/"):
        name = "/" + name
    hosted = _hosted.get(name)
    if hosted is not None and not hosted.closed:
        hosted.define()
        return hosted
    problem = runtime.refusal(name)
    if problem is not None:
        raise HostingError(f"cannot host {name}: {problem}")
    hosted = HostedNamespace(runtime, runtime.server.of(name))
    hosted.define()  # clients that waited for the name come right after the claim: hold them
    await runtime.claim(hosted.namespace)
    _hosted[name] = hosted
    runtime.on_lost[name] = hosted.lost
    return hosted


def _let_in_after_this_cell(hosted: HostedNamespace) -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    events = getattr(shell, "events", None)
    if events is None:
        return

    def after_cell(*args: Any) -> None:
        events.unregister("post_run_cell", after_cell)
        hosted.let_in()

    events.register("post_run_cell", after_cell)
