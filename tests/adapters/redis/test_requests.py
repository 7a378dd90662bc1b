"""Requests awaiting other servers' answers, without Redis: what a caller gets, and when."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_rt.adapters.redis.requests import Requests
from jupyter_rt.adapters.redis.wire import (
    Request,
    RequestType,
    Response,
    SocketDetails,
    decode_request,
)
from jupyter_rt.errors import ClusterTimeout
from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server.adapter import BroadcastOptions


class Wire:
    """Stands for the request channel: keeps what was published."""

    def __init__(self) -> None:
        self.sent: list[Request] = []
        self.published = asyncio.Event()

    def publish(self, payload: bytes) -> None:
        self.sent.append(decode_request(payload))
        self.published.set()

    async def publish_wait(self, payload: bytes) -> None:
        self.publish(payload)

    async def request_id(self) -> str:
        await self.published.wait()
        rid = self.sent[-1].request_id
        assert rid is not None
        return rid


async def test_ask_returns_once_every_server_answered() -> None:
    requests, wire = Requests(), Wire()
    asking = asyncio.ensure_future(
        requests.ask(Request(RequestType.ALL_ROOMS, uid="me"), 2, wire.publish_wait, 5)
    )
    rid = await wire.request_id()
    assert wire.sent[0].uid == "me" and wire.sent[0].type == RequestType.ALL_ROOMS
    assert rid in requests
    requests.on_response(Response(rid, rooms=("a", "b")))
    await asyncio.sleep(0)
    assert not asking.done()
    requests.on_response(Response(rid, rooms=("b", "c")))
    pending = await asyncio.wait_for(asking, 1)
    assert pending.rooms == {"a", "b", "c"}
    assert rid not in requests


async def test_ask_collects_fetched_sockets_and_ignores_foreign_ids() -> None:
    requests, wire = Requests(), Wire()
    opts = BroadcastOptions(frozenset({"r"}))
    asking = asyncio.ensure_future(
        requests.ask(Request(RequestType.REMOTE_FETCH, opts=opts), 1, wire.publish_wait, 5)
    )
    rid = await wire.request_id()
    requests.on_response(Response("someone-else", sockets=(SocketDetails("x", {}, ()),)))
    requests.on_response(Response(rid, sockets=(SocketDetails("s1", {}, ("r",)),)))
    pending = await asyncio.wait_for(asking, 1)
    assert [s.id for s in pending.sockets] == ["s1"]


async def test_server_side_answers_time_out_with_the_ones_that_came() -> None:
    requests, wire = Requests(), Wire()
    request = Request(RequestType.SERVER_SIDE_EMIT, data=["ping"])
    asking = asyncio.ensure_future(requests.ask(request, 2, wire.publish_wait, 0.05))
    rid = await wire.request_id()
    requests.on_response(Response(rid, RequestType.SERVER_SIDE_EMIT, ack=["pong"]))
    requests.on_response(Response(rid))  # no type: not an answer to a server-side emit
    with pytest.raises(ClusterTimeout) as caught:
        await asyncio.wait_for(asking, 1)
    assert caught.value.responses == ["pong"]
    assert str(caught.value) == "server_side_emit: 1 of 2 servers answered within 0.05 s"
    assert rid not in requests


async def test_stream_passes_counts_and_acks_until_its_timeout() -> None:
    requests, wire = Requests(), Wire()
    counts: list[int] = []
    acks: list[list[Any]] = []
    packet = Packet(PacketType.EVENT, "/", ["hello"])
    request = Request(RequestType.BROADCAST, uid="me", opts=BroadcastOptions(), packet=packet)
    requests.stream(request, counts.append, acks.append, wire.publish, 0.05)
    rid = await wire.request_id()
    requests.on_response(Response(rid, RequestType.BROADCAST_CLIENT_COUNT, client_count=2))
    requests.on_response(Response(rid, RequestType.BROADCAST_ACK, ack=["ok", 1]))
    assert counts == [2] and acks == [["ok", 1]]
    await asyncio.sleep(0.1)
    assert rid not in requests
    requests.on_response(Response(rid, RequestType.BROADCAST_ACK, ack=["late"]))
    assert acks == [["ok", 1]]


async def test_cancel_stops_every_waiting_request() -> None:
    requests, wire = Requests(), Wire()
    asking = asyncio.ensure_future(
        requests.ask(Request(RequestType.SOCKETS), 1, wire.publish_wait, 5)
    )
    rid = await wire.request_id()
    requests.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert rid not in requests


async def test_a_request_that_cannot_be_encoded_raises_and_publishes_nothing() -> None:
    requests, wire = Requests(), Wire()
    request = Request(RequestType.SERVER_SIDE_EMIT, data=["ping", object()])
    with pytest.raises(TypeError):
        await requests.ask(request, 1, wire.publish_wait, 5)
    assert wire.sent == []
