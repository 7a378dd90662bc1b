"""``io.to("room").except_("other").emit(...)`` and friends."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from jupyter_rt.errors import AckTimeout
from jupyter_rt.protocol.events import ack_value
from jupyter_rt.protocol.socketio import Packet, PacketType, encode_fields
from jupyter_rt.server._util import SENT, check_event, room_names
from jupyter_rt.server.adapter import BroadcastFlags, BroadcastOptions

if TYPE_CHECKING:
    from jupyter_rt.server.adapter import Adapter
    from jupyter_rt.server.socket import Socket, SocketHandle

__all__ = ["BroadcastOperator", "VolatileSocket"]

_NO_ROOMS: frozenset[str] = frozenset()
_NO_FLAGS = BroadcastFlags()


class BroadcastOperator:
    """A selection of sockets in one namespace; immutable, every method returns a new one.

    ``to``/``in_`` add rooms (members of any of them are selected; no room → everyone),
    ``except_`` removes the members of rooms (a socket id is a room holding that socket).
    """

    __slots__ = ("_adapter", "_except", "_flags", "_rooms")

    def __init__(
        self,
        adapter: Adapter,
        rooms: frozenset[str] = _NO_ROOMS,
        except_: frozenset[str] = _NO_ROOMS,
        flags: BroadcastFlags = _NO_FLAGS,
    ) -> None:
        self._adapter = adapter
        self._rooms = rooms
        self._except = except_
        self._flags = flags

    def __repr__(self) -> str:
        return (
            f"<BroadcastOperator {self._adapter.nsp.name} to={sorted(self._rooms)} "
            f"except={sorted(self._except)}>"
        )

    @property
    def options(self) -> BroadcastOptions:
        """The selection, as the adapter takes it."""
        return BroadcastOptions(self._rooms, self._except, self._flags)

    def _names(self, rooms: str | Iterable[str]) -> list[str]:
        return room_names(rooms, self._adapter.nsp.server.max_name_length)

    def to(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Also select the members of ``room`` (one name or several)."""
        rooms = self._rooms.union(self._names(room))
        return BroadcastOperator(self._adapter, rooms, self._except, self._flags)

    in_ = to

    def except_(self, room: str | Iterable[str]) -> BroadcastOperator:
        """Leave out the members of ``room`` (one name or several)."""
        except_ = self._except.union(self._names(room))
        return BroadcastOperator(self._adapter, self._rooms, except_, self._flags)

    @property
    def volatile(self) -> BroadcastOperator:
        """Drop the packet for clients that cannot take it right now."""
        flags = dataclasses.replace(self._flags, volatile=True)
        return BroadcastOperator(self._adapter, self._rooms, self._except, flags)

    @property
    def local(self) -> BroadcastOperator:
        """Only the sockets of this server (matters with a cluster adapter)."""
        flags = dataclasses.replace(self._flags, local=True)
        return BroadcastOperator(self._adapter, self._rooms, self._except, flags)

    def timeout(self, seconds: float) -> BroadcastOperator:
        """The default ``timeout`` of :meth:`call`."""
        flags = dataclasses.replace(self._flags, timeout=seconds)
        return BroadcastOperator(self._adapter, self._rooms, self._except, flags)

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        """Send ``event`` to the selection; it is encoded once.

        Sent at once (locally); the result may be awaited or ignored.
        """
        check_event(event)
        adapter = self._adapter
        packet = Packet(PacketType.EVENT, adapter.nsp.name, [event, *args])
        adapter.broadcast(packet, BroadcastOptions(self._rooms, self._except, self._flags))
        return SENT

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Emit asking every selected socket for an ack; returns their ack values.

        Each value is as :meth:`Socket.call` returns it, in arrival order. Raises
        :class:`~jupyter_rt.errors.AckTimeout` if some have not answered after ``timeout``
        seconds (defaults to the operator's :meth:`timeout`, which must then be set).
        """
        check_event(event)
        if timeout is None:
            timeout = self._flags.timeout
        if timeout is None:
            raise ValueError("a broadcast with acks needs a timeout")
        adapter = self._adapter
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        responses: list[Any] = []
        expected_clients = 0
        reported_servers = 0
        expected_servers: int | None = None

        def check() -> None:
            if (
                expected_servers is not None
                and reported_servers >= expected_servers
                and len(responses) >= expected_clients
                and not done.done()
            ):
                done.set_result(None)

        def client_count(count: int) -> None:
            nonlocal expected_clients, reported_servers
            expected_clients += count
            reported_servers += 1
            check()

        def ack(args: list[Any]) -> None:
            responses.append(ack_value(args))
            check()

        flags = dataclasses.replace(self._flags, timeout=timeout)
        packet = Packet(PacketType.EVENT, adapter.nsp.name, [event, *args])
        adapter.broadcast_with_ack(
            packet, BroadcastOptions(self._rooms, self._except, flags), client_count, ack
        )

        async def wait() -> None:
            nonlocal expected_servers
            expected_servers = await adapter.server_count()
            check()
            await done

        waiter = asyncio.ensure_future(wait())
        expired = False

        def expire() -> None:
            nonlocal expired
            if not waiter.done():
                expired = True
                waiter.cancel()
                observer = adapter.nsp.server.observer
                if observer is not None:
                    observer.ack_timed_out(adapter.nsp)

        clock = adapter.nsp.server.clock
        timer = clock.call_at(clock.now() + timeout, expire)
        try:
            await waiter
        except asyncio.CancelledError:
            if not expired:
                raise
            raise AckTimeout(
                f"{len(responses)} of {expected_clients} acks for {event!r} within {timeout} s"
            ) from None
        finally:
            timer.cancel()
            waiter.cancel()
        return list(responses)

    async def fetch_sockets(self) -> list[SocketHandle]:
        """The selected sockets (local ones as :class:`Socket`, others as RemoteSocket)."""
        return await self._adapter.fetch_sockets(self.options)

    def sockets_join(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets join ``rooms``."""
        self._adapter.add_sockets(self.options, self._names(rooms))

    def sockets_leave(self, rooms: str | Iterable[str]) -> None:
        """Make the selected sockets leave ``rooms``."""
        self._adapter.del_sockets(self.options, self._names(rooms))

    def disconnect_sockets(self, close: bool = False) -> None:
        """Disconnect the selected sockets (``close``: their whole connection)."""
        self._adapter.disconnect_sockets(self.options, close)


class VolatileSocket:
    """``socket.volatile``: emits that are dropped if the client cannot take them now."""

    __slots__ = ("_socket",)

    def __init__(self, socket: Socket) -> None:
        self._socket = socket

    def emit(self, event: str, *args: Any) -> Awaitable[None]:
        check_event(event)
        socket = self._socket
        if socket.connected:
            data = [event, *args]
            frames = encode_fields(PacketType.EVENT, socket.nsp.name, data)
            socket.deliver(frames, volatile=True)
            if socket.server.observer is not None:
                socket.server.observer.event_sent(socket.nsp, data, frames, (socket,))
        return SENT
