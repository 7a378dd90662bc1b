"""The Jupyter side of kernel-hosted namespaces: the tunnel namespace, claims, the relay.

:class:`Relay` is installed on the Jupyter server's ``io`` by the extension (after its apps,
whose namespaces it then refuses to give away). Kernels connect to the reserved namespace
:data:`~jupyter_rt.kernel.tunnel.NAMESPACE` with the server's token; each connection is a
:class:`TunnelLink`, which claims names (``claim``) and serves them: the clients' packets for a
held name go to the kernel, the kernel's packets to the clients, rooms and broadcasts are kept
here (see :mod:`jupyter_rt.kernel.relay_namespace`).

Limits: at most ``max_per_kernel`` names per kernel and ``max_total`` names (held or vacant) on
the server; a tunnel's outbound buffer is bounded like any client's (``max_buffered_bytes``: a
kernel that stops reading is cut off, and its names freed); every packet a client sends to a
hosted name was decoded and checked here before it is relayed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_rt._throttle import LogThrottle
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.kernel import tunnel
from jupyter_rt.kernel.relay_namespace import HostedName
from jupyter_rt.protocol.events import Reason
from jupyter_rt.server import Adapter, MemoryAdapter, Namespace, Server, Socket

if TYPE_CHECKING:
    from jupyter_rt.server.client import Client

__all__ = ["Relay", "TunnelLink"]

log = logging.getLogger("jupyter_rt.kernel")

_BAD_NAME_CHAR = re.compile(r"[\x00-\x20\x7f,]")

#: The server settings a kernel's own server takes over (it checks what it is sent the same way).
SHARED_OPTIONS = (
    "max_attachments",
    "max_name_length",
    "max_rooms_per_socket",
    "max_queued_events",
    "max_namespaces_per_client",
    "slow_handler_threshold",
)


class TunnelNamespace(Namespace):
    """The tunnel namespace: always in memory (tunnels are this server's own business)."""

    def _make_adapter(self) -> Adapter:
        return MemoryAdapter(self)


class _Opened:
    """A client session the kernel was told about (``open``), and the transport it knows."""

    __slots__ = ("client", "transport")

    def __init__(self, client: Client, transport: str) -> None:
        self.client = client
        self.transport = transport


class TunnelLink:
    """One kernel's tunnel: the names it holds and the client sessions it serves.

    Messages from the kernel (:data:`~jupyter_rt.kernel.tunnel.SHAPES`) are checked, then
    applied; messages about a name or a session it does not hold are ignored.
    """

    def __init__(self, relay: Relay, socket: Socket) -> None:
        self.relay = relay
        self.socket = socket
        self.kernel_id = ""
        self.names: dict[str, HostedName] = {}
        self.sessions: dict[str, _Opened] = {}
        self._outbox = tunnel.Outbox()
        for event in tunnel.SHAPES:
            handler = getattr(self, "on_" + event)
            socket.on(event, functools.partial(self._receive, event, handler))
        socket.on("disconnect", self._on_disconnect)

    def __repr__(self) -> str:
        return f"<TunnelLink kernel={self.kernel_id} names={sorted(self.names)}>"

    def _receive(self, event: str, handler: Callable[..., Any], *args: Any) -> Any:
        try:
            return handler(*tunnel.parse(tunnel.SHAPES, event, args))
        except tunnel.TunnelError as exc:
            self.relay.throttle.log(
                logging.WARNING,
                ("tunnel", self.kernel_id),
                "Dropping a malformed tunnel message from kernel %s: %s",
                self.kernel_id or "(unnamed)",
                exc,
            )
            return None

    def send(self, event: str, *args: Any) -> None:
        """Send the kernel a message; those of one loop turn go together, at its end."""
        if self._outbox.add(event, args):
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what :meth:`send` queued (before a request, so that it comes after them)."""
        emit = self.socket.emit
        for event, args in self._outbox.take():
            emit(event, *args)

    # -- client sessions ----------------------------------------------------------------------

    def client(self, esid: str) -> Client | None:
        """The client of session ``esid`` if the kernel was told about it."""
        opened = self.sessions.get(esid)
        return None if opened is None else opened.client

    def forward(self, client: Client, frames: list[str | bytes]) -> None:
        """Relay a packet of ``client`` to the kernel (telling it of the session first)."""
        session = client.session
        esid = session.sid
        opened = self.sessions.get(esid)
        emit = self.send
        if opened is None:
            transport = session.transport
            self.sessions[esid] = _Opened(client, transport)
            emit(tunnel.J_OPEN, esid, tunnel.handshake_to_wire(session.handshake, transport))
        elif opened.transport != session.transport:
            opened.transport = session.transport
            emit(tunnel.J_TRANSPORT, esid, opened.transport)
        emit(tunnel.J_MSG, esid, *tunnel.pack_frames(frames))

    def session_closed(self, client: Client, reason: Reason) -> None:
        """``client``'s session closed: tell the kernel if it knew it."""
        esid = client.session.sid
        opened = self.sessions.get(esid)
        if opened is not None and opened.client is client:
            del self.sessions[esid]
            self.send(tunnel.J_CLOSED, esid, reason)

    def _on_disconnect(self, reason: str) -> None:
        for hosted in list(self.names.values()):
            hosted.free(f"its kernel's connection closed: {reason}")
        self.names.clear()
        self.sessions.clear()
        self.relay.forget_link(self)

    def _held(self, name: str) -> HostedName | None:
        return self.names.get(name)

    # -- messages from the kernel -------------------------------------------------------------

    def on_batch(self, entries: list[Any]) -> None:
        for event, args in tunnel.batch_entries(entries):
            if event not in tunnel.SHAPES or event in tunnel.REQUESTS:
                raise tunnel.TunnelError(f"{event!r} cannot come in a batch")
            self._receive(event, getattr(self, "on_" + event), *args)

    def on_hello(self) -> dict[str, Any]:
        options = self.relay.io.options
        return {"options": {name: getattr(options, name) for name in SHARED_OPTIONS}}

    def on_claim(self, name: str, kernel_id: str) -> dict[str, Any]:
        return self.relay.claim(self, name, kernel_id)

    def on_release(self, name: str) -> bool:
        hosted = self.names.pop(name, None)
        if hosted is not None:
            hosted.free("its kernel released it")
        return True

    def on_send(self, esid: str, frames: tunnel.Frames) -> None:
        opened = self.sessions.get(esid)
        if opened is not None:
            opened.client.session.send(frames)

    def on_close(self, esid: str, why: str, notify: bool) -> None:
        opened = self.sessions.get(esid)
        if opened is not None and not opened.client.closed:
            opened.client.close(tunnel.reason(why), notify=notify)

    def on_add(self, name: str, sid: str, esid: str, rooms: list[str]) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.add(sid, esid, rooms)

    def on_del(self, name: str, sid: str, rooms: list[str]) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.delete(sid, rooms)

    def on_del_all(self, name: str, sid: str) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.delete_all(sid)

    def on_bcast(self, name: str, opts: Any, frames: tunnel.Frames) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.broadcast(opts, frames)

    def on_bcast_ack(self, name: str, req: int, opts: Any, frames: tunnel.Frames) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.broadcast_with_ack(req, opts, frames)

    def on_add_sockets(self, name: str, opts: Any, rooms: list[str]) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.nsp.adapter.add_sockets(opts, rooms)

    def on_del_sockets(self, name: str, opts: Any, rooms: list[str]) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.nsp.adapter.del_sockets(opts, rooms)

    def on_disconnect_sockets(self, name: str, opts: Any, close: bool) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.nsp.adapter.disconnect_sockets(opts, close)

    async def on_fetch(self, name: str, opts: Any) -> list[dict[str, Any]]:
        hosted = self._held(name)
        return [] if hosted is None else await hosted.fetch(opts)

    async def on_all_rooms(self, name: str) -> list[str]:
        hosted = self._held(name)
        return [] if hosted is None else sorted(await hosted.nsp.adapter.all_rooms())

    async def on_server_count(self, name: str) -> int:
        hosted = self._held(name)
        return 1 if hosted is None else await hosted.nsp.adapter.server_count()

    def on_ss_emit(self, name: str, frames: tunnel.Frames) -> None:
        hosted = self._held(name)
        if hosted is not None:
            hosted.server_side_emit_local(frames)

    async def on_ss_call(self, name: str, timeout: float, frames: tunnel.Frames) -> Any:
        hosted = self._held(name)
        if hosted is None:
            return {"ok": False, "error": f"{name} is not hosted by this kernel", "answers": []}
        return await hosted.server_side_call(timeout, frames)


class Relay:
    """Lets kernels host namespaces on ``io`` (the Jupyter server's Socket.IO server).

    ``token()`` returns the server's token: a tunnel must present it in its CONNECT auth
    (``{"token": ...}``); with an empty token (a server without auth), any caller Jupyter let
    in may host. The namespaces ``io`` has when the relay is made (the configured apps'), and
    :data:`~jupyter_rt.kernel.tunnel.RESERVED`, cannot be hosted. ``vacancy``: seconds a freed
    name keeps its returning clients waiting for a kernel to host it again.
    """

    def __init__(
        self,
        io: Server,
        *,
        token: Callable[[], str],
        max_per_kernel: int = 16,
        max_total: int = 256,
        vacancy: float = 300.0,
    ) -> None:
        self.io = io
        self.token = token
        self.max_per_kernel = max_per_kernel
        self.max_total = max_total
        self.vacancy = vacancy
        self.reserved = frozenset(io.namespaces)
        """Names served by the Jupyter server itself (its apps), which no kernel may take."""
        self.names: dict[str, HostedName] = {}
        self.links: set[TunnelLink] = set()
        self.throttle = LogThrottle(log, clock=io.clock.now)
        """Logs what kernels may cause often (malformed messages), once a minute per kind."""
        nsp = TunnelNamespace(io, tunnel.NAMESPACE)
        io.attach_namespace(nsp)
        nsp.use(self._check_token)
        nsp.on("connection", self._on_tunnel)

    def __repr__(self) -> str:
        return f"<Relay names={sorted(self.names)} tunnels={len(self.links)}>"

    def _check_token(self, socket: Socket) -> None:
        expected = self.token()
        if not expected:
            return
        given = socket.handshake.auth.get("token")
        if not isinstance(given, str) or not secrets.compare_digest(
            given.encode(), expected.encode()
        ):
            log.warning(
                "Refused a kernel tunnel from %s: it did not present the server's token",
                socket.handshake.address,
            )
            raise ConnectionRefused("hosting a namespace needs the Jupyter server's token")

    def _on_tunnel(self, socket: Socket) -> None:
        self.links.add(TunnelLink(self, socket))

    def forget_link(self, link: TunnelLink) -> None:
        """``link``'s tunnel closed (called by the link once its names are freed)."""
        self.links.discard(link)

    def session_closed(self, client: Client, reason: Reason) -> None:
        """A client of a hosted name closed: every kernel that knew its session is told."""
        for link in list(self.links):
            link.session_closed(client, reason)

    # -- claims -------------------------------------------------------------------------------

    def refusal(self, name: object) -> str | None:
        """Why ``name`` cannot be hosted, or ``None``."""
        if not isinstance(name, str) or not name.startswith("/"):
            return "a namespace name starts with /"
        if len(name) > self.io.max_name_length:
            return f"a namespace name has at most {self.io.max_name_length} characters"
        if _BAD_NAME_CHAR.search(name):
            return "a namespace name has no spaces, commas or control characters"
        if name in tunnel.RESERVED or name.startswith(("/admin/", "/jupyter/")):
            return f"{name} is reserved"
        if name in self.reserved or (name in self.io.namespaces and name not in self.names):
            return f"{name} is served by the Jupyter server itself (a configured app)"
        if self.io.parent_for(name) is not None:
            return f"{name} matches a dynamic namespace of the Jupyter server (a configured app)"
        return None

    def claim(self, link: TunnelLink, name: str, kernel_id: str) -> dict[str, Any]:
        """``link``'s kernel asks to host ``name``: ``{"ok": True}`` or ``{"ok": False,
        "error": why}``. The kernel already holding it (by kernel id) takes it again, even
        from a new tunnel; another kernel is refused."""
        problem = self.refusal(name)
        hosted = self.names.get(name)
        if problem is None and hosted is not None and hosted.link not in (None, link):
            if hosted.kernel_id == kernel_id:
                assert hosted.link is not None
                hosted.link.names.pop(name, None)
                hosted.free("its kernel claimed it again from a new connection")
            else:
                problem = f"{name} is served by kernel {hosted.kernel_id}"
        if problem is None and name not in link.names:
            if len(link.names) >= self.max_per_kernel:
                problem = f"a kernel may host at most {self.max_per_kernel} namespaces"
            elif hosted is None and len(self.names) >= self.max_total:
                problem = f"at most {self.max_total} namespaces may be hosted on this server"
        if problem is not None:
            log.info("Kernel %s cannot host %r: %s", kernel_id, name, problem)
            return {"ok": False, "error": problem}
        link.kernel_id = link.kernel_id or kernel_id
        if hosted is None:
            hosted = self.names[name] = HostedName(self, name)
        link.names[name] = hosted
        hosted.serve(link, kernel_id)
        return {"ok": True}

    def forget(self, hosted: HostedName) -> None:
        """``hosted`` stayed vacant too long (called by it): the name is no longer served."""
        if self.names.get(hosted.name) is hosted:
            del self.names[hosted.name]
        hosted.close()
