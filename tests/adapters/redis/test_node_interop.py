"""A Node ``socket.io`` 4.8 server on ``@socket.io/redis-adapter`` 8 and a jupyter_rt server
share one Redis: each with its own clients, events and requests cross both ways.

Every scenario runs twice: the jupyter_rt server acting and the Node one receiving, and the
other way round (``origin``/``remote`` are the two kinds in that order).
"""

from __future__ import annotations

import asyncio

import pytest

from jupyter_rt.testing import wait_until
from tests.adapters.redis.support import answer_is, rooms_of, settle

pytestmark = [pytest.mark.redis, pytest.mark.node, pytest.mark.interop, pytest.mark.slow]


@pytest.fixture(params=[("python", "node"), ("node", "python")], ids=["py-to-node", "node-to-py"])
def kinds(request):
    return request.param


@pytest.fixture
async def pair(start_servers, kinds):
    """Two servers: ``origin`` (acting) and ``remote``."""
    return await start_servers("origin", "remote", kinds=kinds)


async def test_room_broadcast_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    outsider = await peers(remote, label="outsider")
    for peer in (po, pr):
        await peer.ask("join", "lobby")
    args = ["héllo ✓", {"n": 1, "list": [1.5, None, True], "nested": {"k": "v"}}]
    await po.ask("emit-to", {"rooms": ["lobby"], "event": "news", "args": args})
    assert await pr.wait_for("news") == [args]
    assert await po.wait_for("news") == [args]
    await settle()
    assert outsider.got("news") == []


async def test_binary_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("join", "bin")
    payload = {"blob": bytes(range(256)), "label": "bytes"}
    await po.ask("emit-to", {"rooms": ["bin"], "event": "data", "args": [payload, b"\x01\x02"]})
    assert await pr.wait_for("data") == [[payload, b"\x01\x02"]]


async def test_namespaces_and_several_rooms(pair, peers):
    origin, remote = pair
    po = await peers(origin, "/chat")
    pr1, pr2, pr3 = await asyncio.gather(*(peers(remote, "/chat") for _ in range(3)))
    await pr1.ask("join", "a", nsp="/chat")
    await pr2.ask("join", "b", nsp="/chat")
    await po.ask("emit-to", {"rooms": ["a", "b"], "event": "multi", "args": [1]}, nsp="/chat")
    await pr1.wait_for("multi", nsp="/chat")
    await pr2.wait_for("multi", nsp="/chat")
    await po.ask("emit-to", {"event": "all", "args": []}, nsp="/chat")
    await pr3.wait_for("all", nsp="/chat")
    await settle()
    assert pr3.got("multi", nsp="/chat") == []


async def test_sender_exclusion_and_except(pair, peers):
    origin, remote = pair
    po1, po2, pr1, pr2 = await asyncio.gather(
        peers(origin), peers(origin), peers(remote), peers(remote)
    )
    for peer in (po1, po2, pr1, pr2):
        await peer.ask("join", "r")
    await pr2.ask("join", "muted")
    spec = {"rooms": ["r"], "except": ["muted"], "event": "m", "args": [], "from_socket": True}
    await po1.ask("emit-to", spec)
    await po2.wait_for("m")
    await pr1.wait_for("m")
    await settle()
    assert po1.got("m") == []
    assert pr2.got("m") == []


async def test_fetch_sockets_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("set-data", {"user": "rémi", "score": 3})
    await pr.ask("join", "team")
    await po.ask("join", "team")
    fetched = await po.ask("fetch", {"rooms": ["team"]})
    assert [s["id"] for s in fetched] == sorted([po.sid(), pr.sid()])
    theirs = next(s for s in fetched if s["id"] == pr.sid())
    assert theirs["rooms"] == sorted([pr.sid(), "team"])
    assert theirs["data"] == {"user": "rémi", "score": 3}
    assert "127.0.0.1" in theirs["address"]
    assert "host" in theirs["headers"]


async def test_remote_join_leave_disconnect_cross(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("join", "src")
    await po.ask("sockets-join", {"rooms": ["src"], "target": ["dst"]})
    await wait_until(answer_is(rooms_of(pr), lambda rooms: "dst" in rooms), 10, 0.05)
    await po.ask("sockets-leave", {"rooms": ["src"], "target": ["dst"]})
    await wait_until(answer_is(rooms_of(pr), lambda rooms: "dst" not in rooms), 10, 0.05)
    await po.ask("disconnect-sockets", {"rooms": ["src"]})
    await pr.wait_disconnected()
    assert po.sio.connected


async def test_remote_socket_emit_and_join_cross(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    assert await po.ask("remote-emit", {"id": pr.sid(), "event": "direct", "args": ["x"]}) == (
        "RemoteSocket"
    )
    assert await pr.wait_for("direct") == [["x"]]
    await po.ask("remote-join", {"id": pr.sid(), "room": "vip"})
    await wait_until(answer_is(rooms_of(pr), lambda rooms: "vip" in rooms), 10, 0.05)


async def test_broadcast_acks_cross(pair, peers):
    origin, remote = pair
    po, pr1, pr2 = await asyncio.gather(
        peers(origin, label="o"), peers(remote, label="r1"), peers(remote, label="r2")
    )
    for peer in (po, pr1, pr2):
        await peer.ask("join", "q")
    result = await po.ask("call", {"rooms": ["q"], "event": "answer", "args": [5], "timeout": 5})
    assert sorted(r["from"] for r in result["responses"]) == ["o", "r1", "r2"]


async def test_broadcast_ack_timeout_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("join", "slow")
    result = await po.ask("call", {"rooms": ["slow"], "event": "slow", "args": [], "timeout": 1})
    assert result["error"] == "AckTimeout"


async def test_server_side_emit_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await po.ask("server-side-emit", {"event": "note", "args": ["hi", {"k": 1}]})
    await wait_until(answer_is(lambda: pr.ask("server-side-log"), lambda log: log != []), 10, 0.05)
    assert await pr.ask("server-side-log") == [["/", "hi", {"k": 1}]]
    assert await po.ask("server-side-log") == []
    assert await po.ask("server-side-call", {"event": "ping", "args": []}) == {
        "responses": ["pong:remote"]
    }


async def test_all_rooms_crosses(pair, peers):
    origin, remote = pair
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("join", "theirs")
    await po.ask("join", "ours")
    rooms = await po.ask("all-rooms")
    assert {"theirs", "ours", pr.sid(), po.sid()} <= set(rooms)


async def test_three_servers_two_kinds(start_servers, peers):
    py1, node, py2 = await start_servers("py1", "node", "py2", kinds=("python", "node", "python"))
    clients = await asyncio.gather(peers(py1), peers(node), peers(py2))
    for peer in clients:
        await peer.ask("join", "everyone")
    for index, sender in enumerate(clients):
        await sender.ask("emit-to", {"rooms": ["everyone"], "event": "round", "args": [index]})
    for peer in clients:
        got = await peer.wait_for("round", count=3)
        assert sorted(args[0] for args in got) == [0, 1, 2]
    fetched = await clients[1].ask("fetch", {"rooms": ["everyone"]})
    assert {s["id"] for s in fetched} == {p.sid() for p in clients}


async def test_responses_on_specific_channels(start_servers, peers, kinds):
    """Node's ``publishOnSpecificResponseChannel`` and ours: answers go to the asker's channel."""
    origin, remote = await start_servers(
        "origin", "remote", kinds=kinds, specific_response_channel=True
    )
    po, pr = await asyncio.gather(peers(origin), peers(remote))
    await pr.ask("join", "team")
    fetched = await po.ask("fetch", {"rooms": ["team"]})
    assert [s["id"] for s in fetched] == [pr.sid()]
    result = await po.ask("call", {"rooms": ["team"], "event": "answer", "args": [], "timeout": 5})
    assert [r["from"] for r in result["responses"]] == ["remote"]
    assert {"team"} <= set(await po.ask("all-rooms"))
