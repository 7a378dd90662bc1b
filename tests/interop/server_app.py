"""A jupyter_rt server with the handlers the interop tests drive.

Run it as ``python -m tests.serve tests.interop.server_app --port N``; it prints ``READY`` once it
listens.
The official clients (``tests/node/scenarios.mjs`` and python-socketio) talk to it over real
sockets. What the server saw (connections, disconnect reasons, recorded events) is kept in memory
and served as JSON at ``GET /_interop/log?tag=...`` so a test can assert on the server side too.

Every test client sends ``auth={"tag": "<unique>"}``; the log is filtered by that tag.

Namespaces and events:

``/`` (and ``/custom``, and the dynamic ``/dyn-<digits>``)
    ``echo *args``            acks with the same arguments (binary included)
    ``noop``                  acks with no argument
    ``whoami``                acks ``{id, nsp, auth, query, rooms}``
    ``ask {event, args, timeout}``  ``socket.call(event, *args, timeout)``; acks ``{"reply": ...}``
                              or ``{"error": "AckTimeout", "elapsed": seconds}``; logs the outcome
    ``join room`` / ``leave room``  acks the socket's rooms afterwards
    ``broadcast {room, event, data, exclude_sender}``  to the room, from the socket
                              (sender excluded) or from the server (sender included); acks
    ``everyone {event, data}``  emits to every socket of the namespace; acks
    ``push-binary``           emits ``bin`` with bytes in it; acks
    ``push-big size``         emits ``big`` with a text and a binary value of ``size`` each
    ``burst {n, event}``      emits ``event`` n times with ``i`` then acks ``n``
    ``tick i``                stores ``i``;  ``ticks`` acks the stored list
    ``record *args``          appends to the log
    ``ask-callback {event, args}``  ``socket.emit(event, *args, callback=...)``; the callback
                              logs the reply
    ``emit-later {delay, event, room}``  from a loop callback: ``io.emit(event, 1)``, then
                              ``socket.emit(event, 2)``, then (with ``room``)
                              ``io.to(room).emit(event, 3)``, none awaited (the socket object
                              is the one that asked, connected or not by then)
    ``ask-room {room, event, args, timeout}``  ``io.to(room).call(...)``; acks
                              ``{"replies": [...]}`` or ``{"error": "AckTimeout", ...}``
    ``burst-room {room, n, event, binary_every}``  broadcasts ``event`` n times to the room
                              (``bytes([i])`` every ``binary_every``-th time, else ``i``)
    ``shutdown``              ``await io.close()``: everyone disconnected, may come back
    ``make-join {target, room}``  ``io.in_(target).sockets_join(room)``
    ``members room``          acks the ids of ``io.in_(room).fetch_sockets()``, sorted
    ``kick-room room``        ``io.in_(room).disconnect_sockets()``
    ``disconnect-me [{close}]``  the server disconnects the socket (client sees a server
                              disconnect); ``close``: the whole connection, every namespace
    ``drop-transport``        the server drops the transport without a close packet
                              (the client reconnects)
``/slow``
    like ``/``, but the connection handler awaits 0.1 s before it registers the handlers
``/welcome``
    a sync connection handler that emits ``welcome {id}`` before it returns
``/`` also
    a sync middleware registered with ``io.use`` (the main namespace's, as in Node) refuses
    ``auth.banned`` with message ``banned``
``/guarded``
    middleware refuses unless ``auth.token == "letmein"``, with message ``not authorized`` and
    data ``{"code": 4001, "hint": "send a token"}``
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
from collections.abc import Mapping
from typing import Any

import tornado.web

import jupyter_rt.transports
from jupyter_rt.errors import AckTimeout, ConnectionRefused, NotConnected
from jupyter_rt.server import Server

LOG: list[dict[str, Any]] = []


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _nsp_name(socket: Any) -> str:
    nsp = socket.nsp
    return nsp if isinstance(nsp, str) else str(nsp.name)


def _tag(socket: Any) -> Any:
    auth = socket.handshake.auth
    return auth.get("tag") if isinstance(auth, Mapping) else None


def _record(socket: Any, kind: str, **fields: Any) -> None:
    LOG.append(
        {
            "kind": kind,
            "tag": _tag(socket),
            "nsp": _nsp_name(socket),
            "id": socket.id,
            "time": time.time(),
            **fields,
        }
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def drop_transport(socket: Any) -> None:
    """Close the socket's Engine.IO session without a close packet, as a crash would."""
    for attr in ("conn", "session", "engine_session", "_session", "_conn"):
        session = getattr(socket, attr, None)
        if session is not None and hasattr(session, "close"):
            session.close("forced close", notify=False)
            return
    raise RuntimeError("no way to reach the socket's Engine.IO session")


def attach_handlers(io: Any, socket: Any) -> None:
    """Register the test events on one connected socket."""
    socket.data.setdefault("ticks", [])  # a recovered socket keeps its data

    @socket.on("echo")
    async def echo(*args: Any) -> Any:
        return args

    @socket.on("noop")
    def noop(*args: Any) -> None:
        return None

    @socket.on("whoami")
    def whoami(*args: Any) -> Any:
        return {
            "id": socket.id,
            "nsp": _nsp_name(socket),
            "auth": _jsonable(socket.handshake.auth),
            "query": dict(socket.handshake.query),
            "header": socket.handshake.headers.get("x-interop"),
            "address": socket.handshake.address,
            "rooms": sorted(socket.rooms),
        }

    @socket.on("ask")
    async def ask(spec: dict[str, Any]) -> Any:
        start = time.monotonic()
        try:
            reply = await socket.call(
                spec["event"], *spec.get("args", []), timeout=spec.get("timeout", 5)
            )
        except AckTimeout:
            elapsed = time.monotonic() - start
            _record(socket, "call-result", outcome="AckTimeout", elapsed=elapsed)
            return {"error": "AckTimeout", "elapsed": elapsed}
        except NotConnected:
            elapsed = time.monotonic() - start
            _record(socket, "call-result", outcome="NotConnected", elapsed=elapsed)
            return None
        _record(socket, "call-result", outcome="reply", elapsed=time.monotonic() - start)
        return {"reply": reply}

    @socket.on("ask-callback")
    def ask_callback(spec: dict[str, Any]) -> Any:
        def on_reply(*reply: Any) -> None:
            _record(socket, "callback", args=_jsonable(list(reply)))

        socket.emit(spec["event"], *spec.get("args", []), callback=on_reply)
        return "asked"

    @socket.on("emit-later")
    def emit_later(spec: dict[str, Any]) -> Any:
        # From a plain loop callback, not awaited: emits are sent at once.
        loop = asyncio.get_running_loop()
        loop.call_later(spec["delay"], lambda: io.of(_nsp_name(socket)).emit(spec["event"], 1))
        loop.call_later(spec["delay"], lambda: socket.emit(spec["event"], 2))
        if spec.get("room"):
            room = spec["room"]
            loop.call_later(
                spec["delay"], lambda: io.of(_nsp_name(socket)).to(room).emit(spec["event"], 3)
            )
        return "scheduled"

    @socket.on("ask-room")
    async def ask_room(spec: dict[str, Any]) -> Any:
        operator = io.of(_nsp_name(socket)).to(spec["room"])
        try:
            replies = await operator.call(
                spec["event"], *spec.get("args", []), timeout=spec.get("timeout", 5)
            )
        except AckTimeout as exc:
            return {"error": "AckTimeout", "message": str(exc)}
        return {"replies": _jsonable(replies)}

    @socket.on("burst-room")
    async def burst_room(spec: dict[str, Any]) -> Any:
        operator = io.of(_nsp_name(socket)).to(spec["room"])
        every = spec.get("binary_every", 0)
        for i in range(spec["n"]):
            value: Any = bytes([i]) if every and i % every == 0 else i
            await operator.emit(spec.get("event", "item"), value)
        return spec["n"]

    @socket.on("shutdown")
    def shutdown(*args: Any) -> None:
        asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(io.close()))

    @socket.on("make-join")
    def make_join(spec: dict[str, Any]) -> Any:
        io.of(_nsp_name(socket)).in_(spec["target"]).sockets_join(spec["room"])
        return "joined"

    @socket.on("members")
    async def members(room: str) -> Any:
        found = await io.of(_nsp_name(socket)).in_(room).fetch_sockets()
        return sorted(s.id for s in found)

    @socket.on("kick-room")
    def kick_room(room: str) -> Any:
        io.of(_nsp_name(socket)).in_(room).disconnect_sockets()
        return "kicked"

    @socket.on("join")
    async def join(room: str) -> Any:
        await _maybe_await(socket.join(room))
        return sorted(socket.rooms)

    @socket.on("leave")
    async def leave(room: str) -> Any:
        await _maybe_await(socket.leave(room))
        return sorted(socket.rooms)

    @socket.on("broadcast")
    async def broadcast(spec: dict[str, Any]) -> Any:
        if spec.get("exclude_sender"):
            await socket.broadcast.to(spec["room"]).emit(spec["event"], spec["data"])
        else:
            await io.of(_nsp_name(socket)).to(spec["room"]).emit(spec["event"], spec["data"])
        return "sent"

    @socket.on("everyone")
    async def everyone(spec: dict[str, Any]) -> Any:
        await io.of(_nsp_name(socket)).emit(spec["event"], spec["data"])
        return "sent"

    @socket.on("push-binary")
    async def push_binary(*args: Any) -> Any:
        await socket.emit(
            "bin", {"data": bytes(range(256)), "nested": [b"\x00\xff", "text"]}, b"second"
        )
        return "pushed"

    @socket.on("push-big")
    async def push_big(size: int) -> Any:
        await socket.emit("big", "z" * size, bytes(size))
        return size

    @socket.on("burst")
    async def burst(spec: dict[str, Any]) -> Any:
        for i in range(spec["n"]):
            await socket.emit(spec.get("event", "item"), i)
        return spec["n"]

    @socket.on("tick")
    def tick(i: Any) -> None:
        socket.data["ticks"].append(i)

    @socket.on("ticks")
    def ticks(*args: Any) -> Any:
        return socket.data["ticks"]

    @socket.on("record")
    def record(*args: Any) -> Any:
        _record(socket, "record", args=_jsonable(list(args)))
        return "recorded"

    @socket.on("disconnect-me")
    async def disconnect_me(*args: Any) -> None:
        close = bool(args and isinstance(args[0], Mapping) and args[0].get("close"))
        await _maybe_await(socket.disconnect(close=close))

    @socket.on("drop-transport")
    def drop(*args: Any) -> None:
        asyncio.get_running_loop().call_later(0.05, drop_transport, socket)

    @socket.on("disconnect")
    def on_disconnect(reason: str, *rest: Any) -> None:
        _record(socket, "disconnect", reason=reason)


def build_server(
    ping_interval: float = 25,
    ping_timeout: float = 20,
    connect_timeout: float = 45,
    connection_state_recovery: bool = False,
) -> Any:
    io = Server(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        connect_timeout=connect_timeout,
        connection_state_recovery=connection_state_recovery,
    )

    def setup(nsp: Any, delay: float = 0) -> None:
        @nsp.on("connection")
        async def on_connection(socket: Any) -> None:
            auth = _jsonable(socket.handshake.auth)
            _record(
                socket,
                "connect",
                auth=auth,
                query=dict(socket.handshake.query),
                recovered=socket.recovered,
            )
            if delay:
                await asyncio.sleep(delay)  # e.g. a database lookup before the handlers exist
            attach_handlers(io, socket)

    setup(io.of("/"))
    setup(io.of("/custom"))
    setup(io.of("/slow"), delay=0.1)
    setup(io.of(re.compile(r"^/dyn-\d+$")))

    def no_banned(socket: Any) -> None:  # sync; io.use guards the main namespace
        auth = socket.handshake.auth
        if isinstance(auth, Mapping) and auth.get("banned"):
            raise ConnectionRefused("banned")

    io.use(no_banned)

    welcome = io.of("/welcome")

    @welcome.on("connection")
    def on_welcome(socket: Any) -> None:
        _record(socket, "connect", auth=_jsonable(socket.handshake.auth), query={})
        socket.emit("welcome", {"id": socket.id})  # sent from inside the connection handler
        attach_handlers(io, socket)

    guarded = io.of("/guarded")

    async def require_token(socket: Any) -> None:
        auth = socket.handshake.auth
        if not isinstance(auth, Mapping) or auth.get("token") != "letmein":
            raise ConnectionRefused("not authorized", {"code": 4001, "hint": "send a token"})

    guarded.use(require_token)
    setup(guarded)
    return io


class LogHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        tag = self.get_query_argument("tag", None)
        entries = [e for e in LOG if tag is None or e["tag"] == tag]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(entries))


def make_app(
    ping_interval: float = 25,
    ping_timeout: float = 20,
    connect_timeout: float = 45,
    path: str = "/socket.io/",
    connection_state_recovery: int = 0,
) -> tornado.web.Application:
    """The interop server's application (``tests.serve`` runs it); ``--connection-state-recovery
    1`` turns recovery on (every event then carries an offset as its last argument)."""
    io = build_server(ping_interval, ping_timeout, connect_timeout, bool(connection_state_recovery))
    app = tornado.web.Application([(r"/_interop/log", LogHandler)])
    jupyter_rt.transports.mount(app, io, path=path)
    return app
