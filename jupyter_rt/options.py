"""Every setting of a jupyter_rt server, with its default, in one frozen object.

``Server(ping_interval=5)``, ``Engine(listener, ping_interval=5)``, ``mount(app, io)`` and the
Jupyter extension's traitlets (``c.RealtimeApp.ping_interval = 5``) all read :class:`Options`::

    options = Options(ping_interval=5, max_payload=100_000)
    io = jupyter_rt.Server(options)
    quicker = dataclasses.replace(options, ping_timeout=5)

Values are checked when the object is made: a bad one raises ``ValueError`` naming it.

Connection state recovery (off by default, as in Node) is turned on with
``connection_state_recovery=True`` and tuned by the fields after it, or given Node's way, as one
object: ``Server(connection_state_recovery=ConnectionStateRecovery(skip_middlewares=False))``.

Three options are functions the engine calls (``None``: none), in the spirit of Node's
``allowRequest`` option and ``initial_headers`` / ``headers`` events::

    async def allow_request(request: Handshake) -> None:   # sync or async
        if request.headers.get("origin") not in TRUSTED:
            raise ConnectionRefused("Untrusted origin")     # HTTP 403 {"code":4,"message":...}

    def initial_headers(headers: ResponseHeaders, request: Handshake) -> None:
        headers["Set-Cookie"] = f"lb=node-a; Path=/; HttpOnly"

    io = jupyter_rt.Server(allow_request=allow_request, initial_headers=initial_headers)

The Jupyter extension takes them as ``"module:function"`` strings
(``c.RealtimeApp.allow_request = "mypackage.realtime:allow_request"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from jupyter_rt.protocol.socketio import DEFAULT_MAX_ATTACHMENTS

if TYPE_CHECKING:
    from jupyter_rt.engine import Handshake

TRANSPORTS = ("polling", "websocket")
"""The Engine.IO transports, in upgrade order."""

AllowRequest: TypeAlias = "Callable[[Handshake], bool | Awaitable[bool | None] | None]"
"""``allow_request(request)``: called with each handshake request (polling or WebSocket, before
the session opens; sync or async). Returning ``None`` or ``True`` lets it through; raising
:class:`~jupyter_rt.errors.ConnectionRefused` refuses it with HTTP 403 and engine.io's body
``{"code": 4, "message": <its message>}``; returning ``False`` refuses it with ``"Forbidden"``.
Anything else it raises is logged and refuses the request too."""

ResponseHeaders: TypeAlias = MutableMapping[str, "str | list[str]"]
"""Headers to add to a response: a name and its value (a list for a repeated header such as
``Set-Cookie``). Names that frame the response (``Content-Length``, ``Content-Type``,
``Connection``, ``Upgrade``, ``Sec-WebSocket-*`` …) and values with line breaks are refused
with a logged warning."""

HeadersHook: TypeAlias = "Callable[[ResponseHeaders, Handshake], None]"
"""``hook(headers, request)``: adds to ``headers`` for the response to ``request`` (sync)."""


@dataclass(frozen=True, slots=True)
class Options:
    """The settings of one server: the engine's (first) and the Socket.IO core's."""

    # -- Engine.IO ----------------------------------------------------------------------------
    ping_interval: float = 25.0
    ping_timeout: float = 20.0
    max_payload: int = 1_000_000
    transports: tuple[str, ...] = TRANSPORTS
    upgrade_timeout: float = 10.0
    max_poll_packets: int = 16
    max_buffered_bytes: int = 16_000_000
    allow_request: AllowRequest | None = None
    initial_headers: HeadersHook | None = None
    headers: HeadersHook | None = None
    # -- Socket.IO ----------------------------------------------------------------------------
    connect_timeout: float = 45.0
    max_attachments: int = DEFAULT_MAX_ATTACHMENTS
    max_name_length: int = 256
    max_rooms_per_socket: int = 1000
    max_dynamic_namespaces: int = 10_000
    max_namespaces_per_client: int = 100
    max_queued_events: int = 1000
    cleanup_empty_child_namespaces: bool = True
    slow_handler_threshold: float = 0.1
    # -- connection state recovery ------------------------------------------------------------
    connection_state_recovery: bool = False
    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_missed_packets: int = 1000
    max_stored_packets: int = 10_000
    max_stored_sessions: int = 10_000

    def __post_init__(self) -> None:
        transports = tuple(self.transports)
        if not transports or set(transports) - set(TRANSPORTS):
            raise ValueError(f"transports must name polling and/or websocket, not {transports}")
        object.__setattr__(self, "transports", tuple(t for t in TRANSPORTS if t in transports))
        for name in (
            "ping_interval",
            "ping_timeout",
            "upgrade_timeout",
            "connect_timeout",
            "max_disconnection_duration",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.slow_handler_threshold < 0:
            raise ValueError("slow_handler_threshold must be 0 (off) or a number of seconds")
        for name in (
            "max_payload",
            "max_poll_packets",
            "max_buffered_bytes",
            "max_name_length",
            "max_rooms_per_socket",
            "max_dynamic_namespaces",
            "max_namespaces_per_client",
            "max_queued_events",
            "max_missed_packets",
            "max_stored_packets",
            "max_stored_sessions",
        ):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_attachments < 0:
            raise ValueError("max_attachments must be 0 or more")
        for name in HOOKS:
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ValueError(f"{name} must be a function or None")

    @property
    def recovery(self) -> ConnectionStateRecovery | None:
        """The connection state recovery settings, or ``None`` when it is off."""
        if not self.connection_state_recovery:
            return None
        return ConnectionStateRecovery(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(ConnectionStateRecovery)}
        )

    def with_changes(self, changes: Mapping[str, Any]) -> Options:
        """A copy with ``changes`` applied; an unknown name raises ``TypeError`` naming it.

        ``connection_state_recovery`` may be a :class:`ConnectionStateRecovery`: it turns
        recovery on with its settings.
        """
        recovery = changes.get("connection_state_recovery")
        if isinstance(recovery, ConnectionStateRecovery):
            changes = {**changes, **dataclasses.asdict(recovery), "connection_state_recovery": True}
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown server option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes) if changes else self

    @staticmethod
    def help(name: str) -> str:
        """What the option ``name`` does, in one sentence (also the traitlet's help)."""
        return HELP[name]


@dataclass(frozen=True, slots=True)
class ConnectionStateRecovery:
    """Connection state recovery, as one object (Node's ``connectionStateRecovery``).

    A client that lost its connection and comes back within ``max_disconnection_duration``
    seconds gets its socket id, rooms and ``socket.data`` back and the packets it missed;
    ``skip_middlewares``: a recovered socket does not go through the namespace's middleware
    again. The caps bound memory: a socket that missed more than ``max_missed_packets`` gets a
    fresh session; at most ``max_stored_packets`` packets and ``max_stored_sessions``
    disconnected sessions are kept in all, the oldest dropped first.
    """

    max_disconnection_duration: float = 120.0
    skip_middlewares: bool = True
    max_missed_packets: int = 1000
    max_stored_packets: int = 10_000
    max_stored_sessions: int = 10_000


HOOKS = ("allow_request", "initial_headers", "headers")
"""The options that are functions (see :data:`AllowRequest` and :data:`HeadersHook`)."""

HELP: Mapping[str, str] = {
    "ping_interval": "Seconds between server pings.",
    "ping_timeout": "Seconds a client has to answer a ping.",
    "max_payload": "Largest message or polling body, in bytes.",
    "transports": "Transports clients may use: polling and/or websocket.",
    "upgrade_timeout": "Seconds a client has to finish upgrading polling to a WebSocket.",
    "max_poll_packets": "Packets answered in one polling response at most.",
    "max_buffered_bytes": "Outbound bytes one client may have waiting before it is disconnected "
    "(a slow consumer).",
    "allow_request": "A function given each handshake request (sync or async): it returns to "
    "let it through, raises ConnectionRefused(message) to refuse it with HTTP 403.",
    "initial_headers": "A function that adds headers (a cookie, say) to the first response of "
    "each session: the polling handshake, or the WebSocket's 101.",
    "headers": "A function that adds headers to every polling response and WebSocket 101.",
    "connect_timeout": "Seconds a new session has to join a namespace before it is closed.",
    "max_attachments": "Binary attachments one Socket.IO packet may carry.",
    "max_name_length": "Longest event, room or namespace name, in characters.",
    "max_rooms_per_socket": "Rooms one socket may be in.",
    "max_dynamic_namespaces": "Child namespaces that dynamic (pattern) namespaces may create.",
    "max_namespaces_per_client": "Namespaces one client connection may join.",
    "max_queued_events": "Events queued for a socket while its middleware runs, at most.",
    "cleanup_empty_child_namespaces": "Drop a dynamic child namespace when its last socket leaves.",
    "slow_handler_threshold": "Seconds a handler may hold the event loop before it is logged "
    "(with its name, namespace and event, once a minute each); 0 turns it off.",
    "connection_state_recovery": "Let a client that lost its connection come back with its "
    "socket id, rooms, data and the packets it missed (Node's connectionStateRecovery).",
    "max_disconnection_duration": "Seconds a disconnected session, and each packet, is kept "
    "for recovery.",
    "skip_middlewares": "A recovered socket skips the namespace's middleware.",
    "max_missed_packets": "Packets a socket may have missed and still be recovered; past it, "
    "it gets a fresh session.",
    "max_stored_packets": "Packets kept for recovery in all (the oldest dropped first).",
    "max_stored_sessions": "Disconnected sessions kept for recovery in all (the oldest dropped "
    "first).",
}
