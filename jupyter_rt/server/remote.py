"""Handles on sockets anywhere in a cluster, as ``fetch_sockets`` returns the ones of other
servers: every operation goes through the namespace's adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from jupyter_rt.server._util import room_names
from jupyter_rt.server.adapter import BroadcastOptions
from jupyter_rt.server.broadcast import BroadcastOperator

if TYPE_CHECKING:
    from jupyter_rt.server.adapter import Adapter
    from jupyter_rt.server.handshake import SocketHandshake

__all__ = ["RemoteSocket"]


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
