"""The kernel's hosting machinery: one thread, one event loop, one tunnel, one server.

:class:`Runtime` (one per process, made by the first ``host()``) runs on a daemon thread of its
own, so handlers run while a cell is busy. On that loop are the tunnel (a
:class:`jupyter_rt.client.AsyncClient` connected to the Jupyter server's tunnel namespace with
the server's token) and the kernel's :class:`jupyter_rt.Server`, whose sessions are the
clients the Jupyter server relays. When the tunnel drops, those sessions close (``transport
close``); when it comes back, every hosted name is claimed again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import itertools
import logging
import os
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from jupyter_rt.client import AsyncClient, ServerInfo, find_server
from jupyter_rt.errors import HostingError, NotConnected, RealtimeError
from jupyter_rt.kernel import tunnel
from jupyter_rt.kernel.output import CellOutput
from jupyter_rt.kernel.session import TunnelAdapter, TunnelSession
from jupyter_rt.options import Options
from jupyter_rt.protocol.events import DisconnectReason
from jupyter_rt.protocol.socketio import PacketType, encode_fields
from jupyter_rt.server import Namespace, Server

__all__ = ["Runtime", "current_kernel_id"]

log = logging.getLogger("jupyter_rt.kernel")

T = TypeVar("T")

CONNECT_TIMEOUT = 10.0
"""Seconds ``host()`` waits for the tunnel and for each claim."""


def current_kernel_id() -> str:
    """This kernel's id (from its connection file, ``kernel-<id>.json``), or one made up for
    a process that is not a kernel."""
    try:
        from ipykernel.connect import get_connection_file

        path = get_connection_file()
    except Exception:
        path = ""
    match = re.fullmatch(r"kernel-(.+)\.json", os.path.basename(path))
    return match.group(1) if match else f"process-{os.getpid()}-{secrets.token_hex(4)}"


class Runtime:
    """What hosts this process's namespaces (see the module docstring). Use :meth:`get`."""

    _instance: ClassVar[Runtime | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, info: ServerInfo, kernel_id: str) -> None:
        self.info = info
        self.kernel_id = kernel_id
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="jupyter_rt-host", daemon=True)
        self.client = AsyncClient(
            reconnection_delay=0.5,
            reconnection_delay_max=5.0,
            connect_timeout=CONNECT_TIMEOUT,
            ack_timeout=CONNECT_TIMEOUT,
            max_attachments=tunnel.MAX_ATTACHMENTS,
        )
        self.server = Server()  # replaced by one with the Jupyter server's limits at connect
        self.sessions: dict[str, TunnelSession] = {}
        self.names: dict[str, Namespace] = {}
        """The names this kernel holds, and their namespace in :attr:`server`."""
        self.on_lost: dict[str, Callable[[str], None]] = {}
        """Called (on the loop) with the reason when a held name could not be claimed again."""
        self.outbox = tunnel.Outbox()
        self._acks: dict[int, tuple[Callable[[int], None], Callable[[list[Any]], None]]] = {}
        self._requests = itertools.count()
        self._connects = 0
        self.output = CellOutput(0)

    # -- the one runtime ----------------------------------------------------------------------

    @classmethod
    def get(cls, url: str | None = None, token: str | None = None) -> Runtime:
        """This process's runtime, started and connected (made by the first call: ``url`` and
        ``token`` as in :func:`jupyter_rt.client.find_server`). Raises
        :class:`~jupyter_rt.errors.HostingError` if the tunnel cannot be opened."""
        with cls._lock:
            runtime = cls._instance
            if runtime is not None:
                if url is not None and find_server(url, token).url != runtime.info.url:
                    raise HostingError(f"this process hosts on {runtime.info.url} already")
                return runtime
            runtime = cls(find_server(url, token), current_kernel_id())
            runtime.start()
            cls._instance = runtime
            return runtime

    def start(self) -> None:
        """Start the thread and open the tunnel (blocks until it is open)."""
        self.thread.start()
        self.output.thread_id = self.thread.ident or 0
        logging.getLogger("jupyter_rt").addHandler(self.output)
        try:
            self.wait(self.connect(), CONNECT_TIMEOUT * 2)
        except BaseException:
            logging.getLogger("jupyter_rt").removeHandler(self.output)
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    # -- crossing threads ---------------------------------------------------------------------

    @property
    def on_loop(self) -> bool:
        """Whether the caller runs on the hosting thread."""
        return threading.get_ident() == self.thread.ident

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the hosting thread (at once if called there); its result or
        its exception."""
        if self.on_loop:
            return function(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coroutine`` on the hosting loop."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def wait(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coroutine`` on the hosting loop and block for its result (not from the
        hosting thread)."""
        if self.on_loop:
            coroutine.close()
            raise RuntimeError("host() and close() are for cells, not for handlers")
        return self.submit(coroutine).result(timeout)

    # -- the tunnel ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the tunnel and build the kernel's server with the Jupyter server's limits."""
        client = self.client
        for event in tunnel.KERNEL_SHAPES:
            handler = getattr(self, "on_" + event)
            client.on(
                event, functools.partial(self._receive, event, handler), namespace=tunnel.NAMESPACE
            )
        client.on("connect", self._on_connect, namespace=tunnel.NAMESPACE)
        client.on("disconnect", self._on_disconnect, namespace=tunnel.NAMESPACE)
        info = self.info
        try:
            await client.connect(
                info.origin,
                path=info.socketio_path,
                token=info.token or None,
                namespaces=[tunnel.NAMESPACE],
                auth={"token": info.token, "kernel": self.kernel_id},
            )
            hello = await client.call(tunnel.K_HELLO, namespace=tunnel.NAMESPACE)
        except RealtimeError as exc:
            raise HostingError(f"cannot reach the Jupyter server at {info.url}: {exc}") from None
        options = hello.get("options") if isinstance(hello, dict) else None
        known = {f.name for f in dataclasses.fields(Options)}
        shared = {k: v for k, v in (options or {}).items() if k in known}
        self.server = Server(Options(**shared), adapter=self._adapter)

    def _adapter(self, nsp: Namespace) -> TunnelAdapter:
        return TunnelAdapter(nsp, self)

    @staticmethod
    def _receive(event: str, handler: Callable[..., Any], *args: Any) -> Any:
        try:
            return handler(*tunnel.parse(tunnel.KERNEL_SHAPES, event, args))
        except tunnel.TunnelError as exc:
            log.warning("Dropping a malformed tunnel message: %s", exc)
            return None

    def send(self, event: str, *args: Any) -> None:
        """Send a tunnel message (handed to the hosting thread from any other); what one loop
        turn sends goes together, at the end of the turn."""
        if not self.on_loop:
            self.loop.call_soon_threadsafe(functools.partial(self.send, event, *args))
            return
        if self.outbox.add(event, args):
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what :meth:`send` queued."""
        emit = self.client.emit_nowait
        for event, args in self.outbox.take():
            try:
                emit(event, *args, namespace=tunnel.NAMESPACE)
            except NotConnected:
                log.debug("Tunnel closed: %s not sent", event)
            except ValueError as exc:  # over the Jupyter server's max_payload
                log.error("A %s message could not be sent to the Jupyter server: %s", event, exc)

    async def call(self, event: str, *args: Any) -> Any:
        """A tunnel request's answer (on the hosting loop), sent after what is queued."""
        self.flush()
        return await self.client.call(event, *args, namespace=tunnel.NAMESPACE)

    def expect_acks(
        self, count: Callable[[int], None], ack: Callable[[list[Any]], None], timeout: float
    ) -> int:
        req = next(self._requests)
        self._acks[req] = (count, ack)
        self.loop.call_later(timeout + 1.0, self._acks.pop, req, None)
        return req

    def forget_session(self, session: TunnelSession) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]

    def _on_connect(self) -> Awaitable[None] | None:
        self._connects += 1
        if self._connects == 1:
            return None
        return self._claim_again()

    async def _claim_again(self) -> None:
        """The tunnel is back: claim every held name again."""
        for name in list(self.names):
            try:
                answer = await self.call(tunnel.K_CLAIM, name, self.kernel_id)
            except RealtimeError as exc:
                answer = {"ok": False, "error": f"no answer ({exc})"}
            if not (isinstance(answer, dict) and answer.get("ok") is True):
                error = answer.get("error") if isinstance(answer, dict) else None
                log.error("%s could not be hosted again after a reconnection: %s", name, error)
                lost = self.on_lost.get(name)
                if lost is not None:
                    lost(str(error))
            else:
                log.info("%s is hosted again after a reconnection", name)

    def _on_disconnect(self, reason: str) -> None:
        """The tunnel dropped: the Jupyter server closed every relayed session."""
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            session.closed = True
            self.server.on_engine_close(session, DisconnectReason.TRANSPORT_CLOSE)
        self._acks.clear()

    # -- claims -------------------------------------------------------------------------------

    def refusal(self, name: str) -> str | None:
        """Why the kernel's server cannot make a namespace ``name`` (the Jupyter server says
        the rest), or ``None``."""
        if name in tunnel.RESERVED:
            return f"{name} is reserved"
        if len(name) > self.server.max_name_length:
            return f"a namespace name has at most {self.server.max_name_length} characters"
        return None

    async def claim(self, nsp: Namespace) -> None:
        """Hold ``nsp``'s name on the Jupyter server; raises HostingError when refused (and
        ``nsp`` is dropped). Make ``nsp`` ready first: the clients waiting for the name come
        right after the answer."""
        name = nsp.name
        try:
            answer = await self.call(tunnel.K_CLAIM, name, self.kernel_id)
        except RealtimeError as exc:
            answer = {"ok": False, "error": f"the Jupyter server did not answer ({exc})"}
        if not (isinstance(answer, dict) and answer.get("ok") is True):
            self.server.forget_namespace(nsp)
            error = answer.get("error") if isinstance(answer, dict) else answer
            raise HostingError(f"cannot host {name}: {error}")
        self.names[name] = nsp

    async def release(self, name: str) -> None:
        """Give ``name`` up; its clients are disconnected (``server shutting down``)."""
        if name not in self.names:
            return
        try:  # the Jupyter server closes the clients' connections first
            await self.call(tunnel.K_RELEASE, name)
        except RealtimeError as exc:
            log.info("Releasing %s: %s", name, exc)
        self.drop(name)

    def drop(self, name: str) -> None:
        """Forget the held ``name`` here: its sockets disconnect (``server shutting down``)."""
        nsp = self.names.pop(name, None)
        self.on_lost.pop(name, None)
        if nsp is None:
            return
        for socket in list(nsp.sockets.values()):
            socket.on_close(DisconnectReason.SERVER_SHUTTING_DOWN)
        self.server.forget_namespace(nsp)

    # -- messages from the Jupyter server -----------------------------------------------------

    def on_batch(self, entries: list[Any]) -> None:
        for event, args in tunnel.batch_entries(entries):
            if event not in tunnel.KERNEL_SHAPES or event in tunnel.REQUESTS:
                log.warning("Dropping %r: it cannot come in a batch", event)
                continue
            self._receive(event, getattr(self, "on_" + event), *args)

    def on_open(self, esid: str, handshake: dict[str, Any]) -> None:
        engine_handshake, transport = tunnel.handshake_from_wire(handshake)
        old = self.sessions.pop(esid, None)
        if old is not None:
            old.closed = True
            self.server.on_engine_close(old, DisconnectReason.TRANSPORT_CLOSE)
        session = self.sessions[esid] = TunnelSession(self, esid, engine_handshake, transport)
        self.server.on_engine_open(session)

    def on_msg(self, esid: str, frames: tunnel.Frames) -> None:
        session = self.sessions.get(esid)
        if session is not None:
            on_message = self.server.on_engine_message
            for frame in frames:
                on_message(session, frame)

    def on_transport(self, esid: str, transport: str) -> None:
        session = self.sessions.get(esid)
        if session is not None and transport in ("polling", "websocket"):
            session.transport = transport

    def on_closed(self, esid: str, reason: str) -> None:
        session = self.sessions.pop(esid, None)
        if session is not None:
            session.closed = True
            self.server.on_engine_close(session, tunnel.reason(reason))

    def _adapter_of(self, name: str) -> TunnelAdapter | None:
        nsp = self.names.get(name)
        adapter = nsp.adapter if nsp is not None else None
        return adapter if isinstance(adapter, TunnelAdapter) else None

    def on_joined(self, name: str, sid: str, rooms: list[str]) -> None:
        adapter = self._adapter_of(name)
        if adapter is not None:
            adapter.apply_joined(sid, rooms)

    def on_left(self, name: str, sid: str, rooms: list[str]) -> None:
        adapter = self._adapter_of(name)
        if adapter is not None:
            adapter.apply_left(sid, rooms)

    def on_drop(self, name: str, sid: str, close: bool) -> None:
        nsp = self.names.get(name)
        socket = nsp.sockets.get(sid) if nsp is not None else None
        if socket is not None:
            socket.disconnect(close)

    def on_ack_count(self, req: int, count: int) -> None:
        callbacks = self._acks.get(req)
        if callbacks is not None:
            callbacks[0](count)

    def on_ack(self, req: int, args: list[Any]) -> None:
        callbacks = self._acks.get(req)
        if callbacks is not None:
            callbacks[1](args)

    def on_ss_emit(self, name: str, frames: tunnel.Frames) -> None:
        nsp = self.names.get(name)
        if nsp is not None:
            packet = tunnel.decode_packet(frames, self.server.max_name_length)
            nsp.on_server_side_emit(packet.data)

    async def on_ss_call(self, name: str, frames: tunnel.Frames) -> Any:
        nsp = self.names.get(name)
        if nsp is None:
            return None
        packet = tunnel.decode_packet(frames, self.server.max_name_length)
        answer: asyncio.Future[Any] = self.loop.create_future()

        def ack(value: Any) -> None:
            if not answer.done():
                answer.set_result(value)

        nsp.on_server_side_emit(packet.data, ack)
        value = await asyncio.wait_for(answer, CONNECT_TIMEOUT)
        return tuple(tunnel.pack_frames(encode_fields(PacketType.EVENT, "/", ["answer", value])))
