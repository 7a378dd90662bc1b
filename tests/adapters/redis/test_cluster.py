"""Two and three jupyter_rt servers (separate processes) on one real redis-server.

Each server runs ``cluster_app.py`` (in this directory); python-socketio clients connect to
different servers and drive them through events.
"""

from __future__ import annotations

import asyncio

import pytest

from jupyter_rt.testing import wait_until
from tests.adapters.redis.support import answer_is, log_of, rooms_of, settle

pytestmark = [pytest.mark.redis, pytest.mark.slow]


async def test_broadcast_to_a_room_reaches_every_server(start_servers, peers):
    a, b, c = await start_servers("A", "B", "C")
    pa, pb, pc = await asyncio.gather(peers(a), peers(b), peers(c))
    outsider = await peers(c, label="outsider")
    for peer in (pa, pb, pc):
        assert "lobby" in await peer.ask("join", "lobby")
    await pa.ask("emit-to", {"rooms": ["lobby"], "event": "news", "args": ["hi", {"n": 1}]})
    for peer in (pa, pb, pc):
        assert await peer.wait_for("news") == [["hi", {"n": 1}]]
    await settle()
    assert outsider.got("news") == []


async def test_namespace_wide_broadcast_and_namespaces_are_separate(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa = await peers(a, "/", "/chat")
    pb = await peers(b, "/", "/chat")
    await pa.ask("emit-to", {"event": "all", "args": [1]}, nsp="/chat")
    assert await pb.wait_for("all", nsp="/chat") == [[1]]
    assert await pa.wait_for("all", nsp="/chat") == [[1]]
    await settle()
    assert pb.got("all", nsp="/") == []


async def test_socket_broadcast_excludes_the_sender_across_servers(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa1, pa2, pb = await asyncio.gather(peers(a), peers(a), peers(b))
    for peer in (pa1, pa2, pb):
        await peer.ask("join", "room")
    await pa1.ask(
        "emit-to", {"rooms": ["room"], "event": "msg", "args": ["x"], "from_socket": True}
    )
    await pa2.wait_for("msg")
    await pb.wait_for("msg")
    await settle()
    assert pa1.got("msg") == []


async def test_except_holds_across_servers(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb1, pb2 = await asyncio.gather(peers(a), peers(b), peers(b))
    await pb1.ask("join", "muted")
    await pa.ask("emit-to", {"except": ["muted"], "event": "hey", "args": []})
    await pb2.wait_for("hey")
    await pa.wait_for("hey")
    await settle()
    assert pb1.got("hey") == []


async def test_binary_and_unicode_arguments_cross_servers(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pb.ask("join", "bin")
    payload = {"blob": b"\x00\xff" * 100, "text": "héllo ✓ 🎉", "list": [1.5, None, True]}
    await pa.ask("emit-to", {"rooms": ["bin"], "event": "data", "args": [payload, b"\x01"]})
    (args,) = await pb.wait_for("data")
    assert args == [payload, b"\x01"]


async def test_fetch_sockets_across_three_servers(start_servers, peers):
    a, b, c = await start_servers("A", "B", "C")
    pa, pb, pc = await asyncio.gather(peers(a), peers(b), peers(c))
    await pb.ask("set-data", {"user": "bob", "n": [1, 2]})
    for peer in (pa, pb):
        await peer.ask("join", "team")
    fetched = await pc.ask("fetch", {"rooms": ["team"]})
    assert [s["id"] for s in fetched] == sorted([pa.sid(), pb.sid()])
    bob = next(s for s in fetched if s["id"] == pb.sid())
    assert bob["data"] == {"user": "bob", "n": [1, 2]}
    assert bob["rooms"] == sorted([pb.sid(), "team"])
    everyone = await pa.ask("fetch", {})
    assert {s["id"] for s in everyone} == {pa.sid(), pb.sid(), pc.sid()}
    without_team = await pa.ask("fetch", {"except": ["team"]})
    assert [s["id"] for s in without_team] == [pc.sid()]


async def test_remote_join_leave_and_disconnect(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pb.ask("join", "src")
    await pa.ask("sockets-join", {"rooms": ["src"], "target": ["dst", "dst2"]})
    await wait_until(answer_is(rooms_of(pb), lambda rooms: "dst2" in rooms), 10, 0.05)
    fetched = await pa.ask("fetch", {"rooms": ["dst"]})
    assert [s["id"] for s in fetched] == [pb.sid()]
    await pa.ask("emit-to", {"rooms": ["dst2"], "event": "joined", "args": []})
    await pb.wait_for("joined")
    await pa.ask("sockets-leave", {"rooms": ["src"], "target": "dst"})
    await wait_until(
        answer_is(lambda: pa.ask("fetch", {"rooms": ["dst"]}), lambda found: found == []), 10, 0.05
    )
    await pa.ask("disconnect-sockets", {"rooms": ["src"]})
    assert await pb.wait_disconnected() is not None
    assert pa.sio.connected


async def test_remote_socket_handles(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    assert await pa.ask("remote-emit", {"id": pb.sid(), "event": "direct", "args": [7]}) == (
        "RemoteSocket"
    )
    assert await pb.wait_for("direct") == [[7]]
    assert await pa.ask("remote-join", {"id": pb.sid(), "room": "vip"}) == "RemoteSocket"
    await wait_until(answer_is(rooms_of(pb), lambda rooms: "vip" in rooms), 10, 0.05)


async def test_broadcast_with_acks_collects_from_every_server(start_servers, peers):
    a, b, c = await start_servers("A", "B", "C")
    pa, pb, pc = await asyncio.gather(
        peers(a, label="pa"), peers(b, label="pb"), peers(c, label="pc")
    )
    for peer in (pa, pb, pc):
        await peer.ask("join", "q")
    result = await pa.ask("call", {"rooms": ["q"], "event": "answer", "args": [42], "timeout": 5})
    assert sorted(r["from"] for r in result["responses"]) == ["pa", "pb", "pc"]
    assert all(r["args"] == [42] for r in result["responses"])


async def test_broadcast_with_acks_times_out_on_a_slow_remote_client(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pb.ask("join", "slowpokes")
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await pa.ask(
        "call", {"rooms": ["slowpokes"], "event": "slow", "args": [], "timeout": 1}
    )
    assert result["error"] == "AckTimeout"
    assert 0.9 < loop.time() - started < 5


async def test_server_side_emit_and_acks(start_servers, peers):
    a, b, c = await start_servers("A", "B", "C")
    pa, pb, pc = await asyncio.gather(peers(a), peers(b), peers(c))
    await pa.ask("server-side-emit", {"event": "note", "args": ["hello", 1]})
    for peer in (pb, pc):
        await wait_until(answer_is(log_of(peer), lambda log: log != []), 10, 0.05)
        assert await peer.ask("server-side-log") == [["/", "hello", 1]]
    assert await pa.ask("server-side-log") == []
    result = await pa.ask("server-side-call", {"event": "ping", "args": []})
    assert result == {"responses": ["pong:B", "pong:C"]}


async def test_server_side_call_times_out_when_a_server_does_not_answer(start_servers, peers):
    a, _b = await start_servers("A", "B")
    pa = await peers(a)
    result = await pa.ask("server-side-call", {"event": "unknown-event", "args": [], "timeout": 1})
    assert result["error"] == "ClusterTimeout"


async def test_all_rooms(start_servers, peers):
    a, b = await start_servers("A", "B")
    pa, pb = await asyncio.gather(peers(a), peers(b))
    await pa.ask("join", "alpha")
    await pb.ask("join", "beta")
    rooms = await pa.ask("all-rooms")
    assert {"alpha", "beta", pa.sid(), pb.sid()} <= set(rooms)


async def test_fetch_sockets_times_out_when_a_server_hangs(start_servers, peers):
    import os
    import signal

    a, b = await start_servers("A", "B")
    pa = await peers(a)
    os.kill(b.process.pid, signal.SIGSTOP)  # subscribed, counted, but silent
    try:
        result = await pa.ask("fetch", {})
    finally:
        os.kill(b.process.pid, signal.SIGCONT)
    assert result["error"] == "ClusterTimeout"


async def test_fetched_handshakes_leave_credentials_out(start_servers, peers):
    from tests.adapters.redis.support import Peer

    a, b = await start_servers("A", "B")
    pa = await peers(a)
    secret = Peer(b, "secret")
    await secret.connect(
        headers={"Authorization": "token s3cret", "Cookie": "session=abc", "X-Custom": "1"},
        query="/?token=s3cret&room=7",
    )
    try:
        fetched = await pa.ask("fetch", {"rooms": [secret.sid()]})
    finally:
        await secret.close()
    (theirs,) = fetched
    assert "x-custom" in theirs["headers"]
    assert "authorization" not in theirs["headers"]
    assert "cookie" not in theirs["headers"]
    assert "room" in theirs["query"] and "token" not in theirs["query"]
    assert theirs["address"] == "127.0.0.1"
