"""What the server layer needs of a connection, and of a namespace served elsewhere.

:class:`Connection` is the part of an Engine.IO session (:class:`jupyter_rt.engine.EngineSession`)
that ``Server``, ``Client`` and ``Socket`` use; anything with these members can carry a client
(the kernel side of a hosted namespace implements it over its tunnel).

:class:`NamespaceHost` takes the packets of one namespace instead of the server core: a
:class:`~jupyter_rt.server.Namespace` whose ``host`` is set hands every CONNECT to it, and the
client then routes that namespace's packets to the host (see
:class:`~jupyter_rt.server.client.Client`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from jupyter_rt.protocol.events import Reason
    from jupyter_rt.protocol.socketio import Packet
    from jupyter_rt.server.client import Client

__all__ = ["Connection", "ConnectionHandshake", "NamespaceHost"]


class ConnectionHandshake(Protocol):
    """What the HTTP request that opened a connection carried
    (:class:`jupyter_rt.engine.Handshake` is one)."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def remote_address(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def user(self) -> Mapping[str, object] | None: ...
    @property
    def issued(self) -> float: ...


class Connection(Protocol):
    """One client connection as the server layer uses it (an Engine.IO session)."""

    @property
    def sid(self) -> str:
        """The connection's id (the Engine.IO session id)."""

    @property
    def handshake(self) -> ConnectionHandshake: ...

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``."""

    @property
    def credential(self) -> str | None:
        """A digest of the credentials that opened the connection (``None``: none known);
        connection state recovery hands a session back only to the same credential."""

    @property
    def writable(self) -> bool:
        """Whether a message sent now goes out at once (volatile messages are dropped if not)."""

    def send(self, messages: Sequence[str | bytes]) -> None:
        """Queue the frames of one packet, in order; nothing happens once closed."""

    def close(self, reason: Reason = "forced close", *, notify: bool = True) -> None:
        """Close and tell the server (``on_engine_close``); ``notify=False``: the client is not
        told not to come back, and reconnects."""

    def set_deadline(self, delay: float, reason: Reason, *, now: float | None = None) -> None:
        """Close with ``reason`` after ``delay`` seconds unless :meth:`clear_deadline` comes
        first (the connect timeout)."""

    def clear_deadline(self) -> None: ...


class NamespaceHost(Protocol):
    """Serves one namespace in place of the server core (``Namespace.host``).

    The client calls these on its event loop; the host answers the client itself, by sending
    frames on ``client.session``. When the host gives a namespace up for a client that is still
    open, it calls ``client.forget_host(name)``.
    """

    def connect(self, client: Client, name: str, auth: dict[str, Any]) -> None:
        """A CONNECT to ``name`` from ``client``, with its auth object (already counted against
        the client's namespace limit)."""

    def receive(self, client: Client, packet: Packet) -> None:
        """Any later packet of ``client`` for this namespace, decoded and checked (a
        DISCONNECT too)."""

    def client_closed(self, client: Client, name: str, reason: Reason) -> None:
        """``client``'s connection is closed (``reason``): it is gone from ``name`` too."""
