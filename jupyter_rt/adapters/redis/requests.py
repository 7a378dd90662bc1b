"""Requests to the other servers of a namespace, and the responses that answer them.

One mechanism for every request that expects answers, each under its own random request id:

- :meth:`Requests.ask` publishes a request and waits until ``expected`` servers answered
  (``fetch_sockets``, ``all_sockets``, ``all_rooms``, ``server_side_emit_with_ack``); past the
  timeout it raises :class:`~jupyter_rt.errors.ClusterTimeout` with the answers that came.
- :meth:`Requests.stream` publishes a broadcast with acks, whose answers (a client count per
  server, then one ack per client) go to callbacks as they come, until the timeout.

Responses to request ids nobody waits for (any more) are ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_rt.adapters.redis.wire import (
    Request,
    RequestType,
    Response,
    SocketDetails,
    encode_request,
    new_id,
)
from jupyter_rt.errors import ClusterTimeout
from jupyter_rt.protocol.events import ack_value

__all__ = ["Pending", "Requests"]


@dataclasses.dataclass(slots=True)
class Pending:
    """A request waiting for ``expected`` responses, and what they carried so far."""

    type: RequestType
    expected: int
    done: asyncio.Future[None]
    received: int = 0
    sockets: list[SocketDetails] = dataclasses.field(default_factory=list)
    sids: set[str] = dataclasses.field(default_factory=set)
    rooms: set[str] = dataclasses.field(default_factory=set)
    acks: list[Any] = dataclasses.field(default_factory=list)

    def add(self, response: Response) -> None:
        """Count ``response`` and keep what it carries; done once ``expected`` came."""
        if self.type == RequestType.SERVER_SIDE_EMIT:
            if response.type != RequestType.SERVER_SIDE_EMIT:
                return
            self.acks.append(ack_value(response.ack))
        elif self.type == RequestType.REMOTE_FETCH:
            for item in response.sockets or ():
                if isinstance(item, SocketDetails):
                    self.sockets.append(item)
        elif self.type == RequestType.SOCKETS:
            for item in response.sockets or ():
                if isinstance(item, str):
                    self.sids.add(item)
        elif self.type == RequestType.ALL_ROOMS:
            self.rooms.update(response.rooms or ())
        self.received += 1
        if self.received >= self.expected and not self.done.done():
            self.done.set_result(None)


@dataclasses.dataclass(slots=True)
class _Stream:
    """A broadcast with acks: where its responses go."""

    client_count: Callable[[int], None]
    ack: Callable[[list[Any]], None]


class Requests:
    """The requests one adapter sent and still expects answers to, by request id.

    ``encode`` makes a request's message (by default, Node's ``@socket.io/redis-adapter``
    format); it raises ``TypeError`` for what cannot be carried.
    """

    def __init__(self, encode: Callable[[Request], bytes] = encode_request) -> None:
        self._encode = encode
        self._pending: dict[str, Pending] = {}
        self._streams: dict[str, _Stream] = {}

    def __contains__(self, request_id: object) -> bool:
        """Whether ``request_id`` is one of ours (a request we published and still track)."""
        return request_id in self._pending or request_id in self._streams

    async def ask(
        self,
        request: Request,
        expected: int,
        publish: Callable[[bytes], Awaitable[object]],
        timeout: float,
    ) -> Pending:
        """Give ``request`` an id, ``publish`` it and wait for ``expected`` responses.

        Raises :class:`ClusterTimeout` (with the answers so far) after ``timeout`` seconds, and
        what ``publish`` raises (:class:`~jupyter_rt.errors.RedisUnavailable`); ``TypeError`` if
        the request cannot be encoded.
        """
        request_id = new_id()
        payload = self._encode(dataclasses.replace(request, request_id=request_id))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = Pending(request.type, expected, done)
        self._pending[request_id] = pending
        try:
            await publish(payload)
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except asyncio.TimeoutError:
            raise ClusterTimeout(
                f"{request.type.name.lower()}: {pending.received} of {expected} servers "
                f"answered within {timeout} s",
                list(pending.acks),
            ) from None
        finally:
            self._pending.pop(request_id, None)
        return pending

    def stream(
        self,
        request: Request,
        client_count: Callable[[int], None],
        ack: Callable[[list[Any]], None],
        publish: Callable[[bytes], None],
        timeout: float,
    ) -> None:
        """Give ``request`` an id and ``publish`` it; its responses go to ``client_count`` and
        ``ack`` for ``timeout`` seconds. ``TypeError`` if it cannot be encoded."""
        request_id = new_id()
        payload = self._encode(dataclasses.replace(request, request_id=request_id))
        self._streams[request_id] = _Stream(client_count, ack)
        asyncio.get_running_loop().call_later(timeout, self._streams.pop, request_id, None)
        publish(payload)

    def on_response(self, response: Response) -> None:
        """Hand ``response`` to the request it answers, if we still wait for it."""
        rid = response.request_id
        stream = self._streams.get(rid)
        if stream is not None:
            if response.type == RequestType.BROADCAST_CLIENT_COUNT:
                stream.client_count(response.client_count or 0)
            elif response.type == RequestType.BROADCAST_ACK:
                stream.ack(response.ack)
            return
        pending = self._pending.get(rid)
        if pending is not None:
            pending.add(response)

    def cancel(self) -> None:
        """Stop waiting for anything: waiting :meth:`ask` calls are cancelled."""
        for pending in self._pending.values():
            if not pending.done.done():
                pending.done.cancel()
        self._pending.clear()
        self._streams.clear()
