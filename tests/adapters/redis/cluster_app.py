"""A jupyter_rt server on the Redis adapter, driven by its clients, for the cluster tests.

``python -m tests.serve tests.adapters.redis.cluster_app --port N --redis URL --name A``
(``--prefix P``) prints ``READY`` once it listens and its Redis subscriptions are active.
``--adapter streams`` uses the Redis Streams adapter (stream and channels named by the prefix,
sessions under ``<prefix>:session:``), ``--recovery yes`` turns connection state recovery on and
``--ping S`` sets the ping interval and timeout (seconds).
``cluster_server.cjs`` is the same program for Node ``socket.io`` with
``@socket.io/redis-adapter`` (or ``@socket.io/redis-streams-adapter``): both answer the events
below (on ``/`` and ``/chat``), so a test can drive either kind.

Every event acks its result. ``rooms``/``except`` select sockets as ``io.to(rooms).except_(...)``.

    whoami                                  {"id", "server", "rooms", "data", "recovered"}
    join rooms / leave rooms                the socket's rooms afterwards (sorted)
    emit-to {rooms, except, event, args, from_socket}
                                            broadcast (from_socket: socket.broadcast...)
    fetch {rooms, except}                   [{"id", "rooms", "data"}] sorted by id, or {"error"}
    sockets-join / sockets-leave {rooms, except, target}
    disconnect-sockets {rooms, except, close}
    call {rooms, except, event, args, timeout}   {"responses": [...]} or {"error"}
    server-side-emit {event, args}          ``nsp.server_side_emit``
    server-side-call {event, args}          {"responses": [...]} or {"error"}
    all-rooms                               sorted room names of the cluster
    set-data {...}                          merged into ``socket.data``
    remote-emit {id, event, args}           through the RemoteSocket ``fetch_sockets`` returns
    remote-join {id, room}                  same
    server-side-log                         what server-side handlers received here

Server-side handlers: ``note *args`` (recorded), ``ping`` (answers ``"pong:<name>"``).
"""

from __future__ import annotations

import os
from typing import Any

import tornado.web

import jupyter_rt.transports
from jupyter_rt.adapters.redis import RedisAdapter, RedisStreamsAdapter, RedisUnavailable
from jupyter_rt.server import Server, Socket

NAME = "?"
SERVER_SIDE: list[Any] = []


def _error(exc: BaseException) -> dict[str, str]:
    return {"error": type(exc).__name__, "message": str(exc)}


def _select(nsp: Any, spec: dict[str, Any]) -> Any:
    op = nsp.to(spec.get("rooms") or [])
    if spec.get("except"):
        op = op.except_(spec["except"])
    return op


def attach(io: Server, nsp: Any, socket: Socket) -> None:
    @socket.on("whoami")
    def whoami() -> Any:
        return {
            "id": socket.id,
            "server": NAME,
            "rooms": sorted(socket.rooms),
            "data": socket.data,
            "recovered": socket.recovered,
        }

    @socket.on("join")
    def join(rooms: Any) -> Any:
        socket.join(rooms)
        return sorted(socket.rooms)

    @socket.on("leave")
    def leave(rooms: Any) -> Any:
        socket.leave(rooms)
        return sorted(socket.rooms)

    @socket.on("emit-to")
    def emit_to(spec: dict[str, Any]) -> Any:
        if spec.get("from_socket"):
            op = socket.broadcast
            if spec.get("rooms"):
                op = op.to(spec["rooms"])
            if spec.get("except"):
                op = op.except_(spec["except"])
        else:
            op = _select(nsp, spec)
        op.emit(spec["event"], *spec.get("args", []))
        return "ok"

    @socket.on("fetch")
    async def fetch(spec: dict[str, Any]) -> Any:
        try:
            sockets = await _select(nsp, spec).fetch_sockets()
        except Exception as exc:
            return _error(exc)
        return sorted(
            (
                {
                    "id": s.id,
                    "rooms": sorted(s.rooms),
                    "data": s.data,
                    "headers": sorted(s.handshake.headers),
                    "query": sorted(s.handshake.query),
                    "address": s.handshake.address,
                }
                for s in sockets
            ),
            key=lambda s: s["id"],
        )

    @socket.on("sockets-join")
    def sockets_join(spec: dict[str, Any]) -> Any:
        _select(nsp, spec).sockets_join(spec["target"])
        return "ok"

    @socket.on("sockets-leave")
    def sockets_leave(spec: dict[str, Any]) -> Any:
        _select(nsp, spec).sockets_leave(spec["target"])
        return "ok"

    @socket.on("disconnect-sockets")
    def disconnect_sockets(spec: dict[str, Any]) -> Any:
        _select(nsp, spec).disconnect_sockets(bool(spec.get("close")))
        return "ok"

    @socket.on("call")
    async def call(spec: dict[str, Any]) -> Any:
        try:
            responses = await _select(nsp, spec).call(
                spec["event"], *spec.get("args", []), timeout=spec.get("timeout", 2)
            )
        except Exception as exc:
            return _error(exc)
        return {"responses": responses}

    @socket.on("server-side-emit")
    def server_side_emit(spec: dict[str, Any]) -> Any:
        nsp.server_side_emit(spec["event"], *spec.get("args", []))
        return "ok"

    @socket.on("server-side-call")
    async def server_side_call(spec: dict[str, Any]) -> Any:
        try:
            responses = await nsp.server_side_call(
                spec["event"], *spec.get("args", []), timeout=spec.get("timeout")
            )
        except Exception as exc:
            return _error(exc)
        return {"responses": sorted(responses, key=repr)}

    @socket.on("all-rooms")
    async def all_rooms() -> Any:
        try:
            return sorted(await nsp.adapter.all_rooms())
        except Exception as exc:
            return _error(exc)

    @socket.on("set-data")
    def set_data(data: dict[str, Any]) -> Any:
        socket.data.update(data)
        return "ok"

    async def remote(sid: str) -> Any:
        for handle in await nsp.in_(sid).fetch_sockets():
            if handle.id == sid:
                return handle
        return None

    @socket.on("remote-emit")
    async def remote_emit(spec: dict[str, Any]) -> Any:
        handle = await remote(spec["id"])
        if handle is None:
            return "missing"
        handle.emit(spec["event"], *spec.get("args", []))
        return type(handle).__name__

    @socket.on("remote-join")
    async def remote_join(spec: dict[str, Any]) -> Any:
        handle = await remote(spec["id"])
        if handle is None:
            return "missing"
        handle.join(spec["room"])
        return type(handle).__name__

    @socket.on("server-side-log")
    def server_side_log() -> Any:
        return list(SERVER_SIDE)


def build(
    redis_url: str,
    prefix: str,
    request_timeout: float,
    specific: bool = False,
    adapter: str = "pubsub",
    recovery: bool = False,
    ping: float = 0,
) -> Server:
    factory: Any
    if adapter == "streams":
        factory = RedisStreamsAdapter.factory(
            redis_url,
            stream_name=prefix,
            channel_prefix=prefix,
            session_key_prefix=f"{prefix}:session:",
            request_timeout=request_timeout,
            block_time=1,
        )
    else:
        factory = RedisAdapter.factory(
            redis_url, prefix, request_timeout, publish_on_specific_response_channel=specific
        )
    pings = {"ping_interval": ping, "ping_timeout": ping} if ping else {}
    io = Server(adapter=factory, connection_state_recovery=recovery, **pings)
    for name in ("/", "/chat"):
        nsp = io.of(name)

        def on_connection(socket: Socket, nsp: Any = nsp) -> None:
            attach(io, nsp, socket)

        nsp.on("connection", on_connection)

        def note(*args: Any, nsp: Any = nsp) -> None:
            SERVER_SIDE.append([nsp.name, *args])

        def ping(*args: Any) -> str:
            return f"pong:{NAME}"

        nsp.on("note", note)
        nsp.on("ping", ping)
    return io


def setup(io: Server) -> None:
    """The events above on ``/``, as a realtime app of a Jupyter server
    (``--RealtimeApp.apps=tests.adapters.redis.cluster_app:setup``; ``JRT_CLUSTER_NAME`` names
    it)."""
    global NAME
    NAME = os.environ.get("JRT_CLUSTER_NAME", "jupyter")
    nsp = io.of("/")

    def on_connection(socket: Socket) -> None:
        attach(io, nsp, socket)

    nsp.on("connection", on_connection)


#: What ``tests.serve`` logs with (the tests read these lines).
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def make_app(
    redis: str,
    name: str = "py",
    prefix: str = "socket.io",
    request_timeout: float = 2.0,
    specific_response_channel: str = "no",
    adapter: str = "pubsub",
    recovery: str = "no",
    ping: float = 0,
) -> tuple[tornado.web.Application, Server]:
    """The cluster server's application and its ``Server`` (``tests.serve`` runs it)."""
    global NAME
    NAME = name
    specific = specific_response_channel == "yes"
    io = build(redis, prefix, request_timeout, specific, adapter, recovery == "yes", ping)
    app = tornado.web.Application()
    jupyter_rt.transports.mount(app, io)
    return app, io


async def ready(built: tuple[tornado.web.Application, Server]) -> None:
    """Return once the Redis subscriptions are active (Redis may not be up yet: the adapter
    keeps trying by itself)."""
    _, io = built
    while True:
        try:
            await io.ready()
            return
        except RedisUnavailable:
            continue
