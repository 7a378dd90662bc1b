"""The official npm ``socket.io-client`` 4.8 against a real jupyter_rt server.

Each test runs one scenario of ``tests/node/scenarios.mjs`` in ``node`` (bounded in time) and
asserts on what the client reported and on what the server logged.
"""

from __future__ import annotations

import pytest

from tests.interop.support import NodeRun, ServerProcess, connects, disconnects, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.node, pytest.mark.timeout(60)]

TRANSPORTS = ["polling", "websocket", "upgrade"]
BOTH = ["polling", "websocket"]


def hexbytes(data: bytes) -> dict[str, str]:
    return {"bytes": data.hex()}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connect_echo_and_handshake(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("basic", interop_server.url, tag=tag, transport=transport)
    expected_first = "websocket" if transport == "websocket" else "polling"
    assert r["firstTransport"] == expected_first
    assert r["finalTransport"] == ("polling" if transport == "polling" else "websocket")
    if transport == "upgrade":
        assert r["upgraded"] is True
    # The socket id is the per-namespace id from the CONNECT reply, not the Engine.IO sid.
    assert r["whoami"]["id"] == r["socketId"]
    assert r["socketId"] != r["engineId"]
    assert r["whoami"]["nsp"] == "/"
    assert r["whoami"]["auth"] == {"tag": tag, "hello": "world", "n": 7}
    assert r["whoami"]["query"]["flavor"] == "vanilla"
    assert r["whoami"]["query"]["EIO"] == "4"
    assert r["whoami"]["header"] == "yes"
    assert r["whoami"]["address"] == "127.0.0.1"
    assert r["whoami"]["rooms"] == [r["socketId"]]
    # Emitted while the upgrade probe was under way: none lost, acked in order.
    assert r["early"] == [[i] for i in range(10)]
    assert r["echo"] == [1, "two", {"three": [3, None, True]}]
    assert r["noop"] == []
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert [c["auth"] for c in connects(log)] == [{"tag": tag, "hello": "world", "n": 7}]
    assert disconnects(log) == ["client namespace disconnect"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_acks_both_ways(interop_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("acks", interop_server.url, tag=tag, transport=transport)
    assert r["answer"] == {"reply": {"answer": 42}}
    assert r["sum"] == {"reply": 5}
    # An ack with several arguments comes back from call() as a tuple.
    assert r["pair"] == {"reply": ["x", 2]}
    assert r["bin"] == {"reply": hexbytes(bytes([1, 2, 3, 250]))}
    assert r["timedOut"]["error"] == "AckTimeout"
    assert 0.4 <= r["timedOut"]["elapsed"] < 3
    assert r["late"]["error"] == "AckTimeout"
    # emit(..., callback=...): the callback gets the client's ack.
    assert r["askedCb"] == "asked"
    log = interop_server.wait_log(tag, lambda e: any(x["kind"] == "callback" for x in e))
    assert [e["args"] for e in log if e["kind"] == "callback"] == [[42]]
    # Emits from a plain loop callback, not awaited, are sent.
    assert r["scheduled"] == "scheduled"
    assert r["later"] == [1, 2]
    # An ack that arrives after the server gave up is dropped; the connection carries on.
    assert r["afterLate"] == ["still here"]
    assert r["connected"] is True


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binary_both_ways(interop_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("binary", interop_server.url, tag=tag, transport=transport)
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    assert r["echoed"][0] == {
        "name": "blob",
        "data": hexbytes(bytes([0, 1, 2, 253, 254, 255])),
        "list": [hexbytes(b"abc"), "x", hexbytes(bytes([9, 8, 7]))],
    }
    assert r["echoed"][1] == {"length": 100_000, "same": True}
    assert r["echoed"][2] == "text"
    # Ten attachments (the limit) and a message just under maxPayload go through.
    assert r["tenEcho"] == [hexbytes(bytes([i, i])) for i in range(10)]
    assert r["nearLimit"] == 900_000
    assert r["pushAck"] == ["pushed"]
    assert r["bin"] == [
        {"data": hexbytes(bytes(range(256))), "nested": [hexbytes(b"\x00\xff"), "text"]},
        hexbytes(b"second"),
    ]


@pytest.mark.parametrize("transport", BOTH)
def test_binary_with_force_base64(interop_server: ServerProcess, tag: str, transport: str) -> None:
    # socket.io-client's forceBase64 option sends binary as "b" + base64 text on both transports.
    r = run_scenario("binary", interop_server.url, tag=tag, transport=transport, forceBase64=True)
    assert r["echoed"][1] == {"length": 100_000, "same": True}
    assert r["tenEcho"] == [hexbytes(bytes([i, i])) for i in range(10)]
    assert r["bin"][1] == hexbytes(b"second")


@pytest.mark.parametrize("transport", BOTH)
def test_namespaces_share_one_connection(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("namespaces", interop_server.url, tag=tag, transport=transport)
    out = r["outcomes"]
    for path in ("/", "/custom", "/dyn-42"):
        assert out[path]["connected"] is True, (path, out[path])
        assert out[path]["whoami"]["nsp"] == path
        assert out[path]["whoami"]["id"] == out[path]["socketId"]
    # Three namespace sockets, three different ids, one Engine.IO session.
    assert len({out[p]["socketId"] for p in ("/", "/custom", "/dyn-42")}) == 3
    assert len({out[p]["engineId"] for p in ("/", "/custom", "/dyn-42")}) == 1
    for path in ("/nope", "/dyn-abc"):
        assert out[path] == {"connected": False, "error": "Invalid namespace", "data": None}
    assert r["customBinary"] == [hexbytes(b"\x07\x07\x07"), "tail"]
    assert r["afterLeaving"] == {
        "rootEcho": ["root still here"],
        "dynEcho": ["dyn still here"],
        "sameEngine": True,
    }
    log = interop_server.wait_log(tag, lambda e: len(disconnects(e)) >= 3)
    assert sorted(c["nsp"] for c in connects(log)) == ["/", "/custom", "/dyn-42"]
    gone = [(e["nsp"], e["reason"]) for e in log if e["kind"] == "disconnect"]
    assert gone[0] == ("/custom", "client namespace disconnect")
    assert sorted(gone[1:]) == [
        ("/", "client namespace disconnect"),
        ("/dyn-42", "client namespace disconnect"),
    ]


@pytest.mark.parametrize("transport", BOTH)
def test_middleware_refusal_reaches_connect_error(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("middleware", interop_server.url, tag=tag, transport=transport)
    assert r["refused"] == {
        "message": "not authorized",
        "data": {"code": 4001, "hint": "send a token"},
        "connectError": True,
    }
    # As in Node, io.use() guards the main namespace only; without data, err.data is absent.
    assert r["banned"] == {
        "/": {"message": "banned", "data": None},
        "/custom": {"connected": True},
        "/guarded": {"connected": True},
    }
    banned = sorted(c["nsp"] for c in connects(interop_server.log(f"{tag}-banned")))
    assert banned == ["/custom", "/guarded"]
    assert r["whoami"]["nsp"] == "/guarded"
    assert r["whoami"]["auth"] == {"tag": tag, "token": "letmein"}
    # The refused client never reached the connection handler.
    assert connects(interop_server.log(f"{tag}-refused")) == []


@pytest.mark.parametrize("transport", [*BOTH, "mixed"])
def test_rooms_and_broadcasts(interop_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("rooms", interop_server.url, tag=tag, transport=transport)
    seen = r["seen"]
    assert "r1" in r["rooms"]["A"] and "r1" in r["rooms"]["B"] and "r2" in r["rooms"]["C"]
    assert "r1" not in r["left"]
    m = [["marker", i] for i in (1, 2, 3, 4)]
    assert seen["A"] == [
        m[0],
        ["room-msg", "to-room"],
        m[1],
        ["room-msg", "after-leave"],
        m[2],
        m[3],
    ]
    assert seen["B"] == [
        ["room-msg", "from-a-excluded"],
        m[0],
        ["room-msg", "to-room"],
        m[1],
        m[2],
        m[3],
    ]
    # C alone in r2 broadcasting with itself excluded: nobody gets it.
    assert seen["C"] == [m[0], m[1], m[2], m[3]]
    # D joined a room called r1 in /custom: broadcasts to r1 in / do not reach it.
    assert seen["D"] == [["marker", "custom"]]


@pytest.mark.parametrize(("transport", "n"), [("polling", 40), ("websocket", 40), ("upgrade", 300)])
def test_burst_each_way(interop_server: ServerProcess, tag: str, transport: str, n: int) -> None:
    # With "upgrade" the burst starts at once, so it straddles the switch to WebSocket.
    r = run_scenario("burst", interop_server.url, tag=tag, transport=transport, n=n)
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    assert r["count"] == n
    # The ack was sent after the events, so it arrives after them.
    assert r["itemsAtAck"] == n
    assert r["items"] == list(range(n))
    assert r["ticks"] == list(range(n))


@pytest.mark.parametrize("transport", BOTH)
def test_server_disconnect(interop_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("server-disconnect", interop_server.url, tag=tag, transport=transport)
    assert r["reason"] == "io server disconnect"
    # A server disconnect is final: the client does not reconnect.
    assert r["connects"] == 1
    assert r["active"] is False
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["server namespace disconnect"]
    assert len(connects(log)) == 1


@pytest.mark.parametrize("transport", BOTH)
def test_client_disconnect_reason(interop_server: ServerProcess, tag: str, transport: str) -> None:
    r = run_scenario("client-disconnect", interop_server.url, tag=tag, transport=transport)
    assert r["reason"] == "io client disconnect"
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["client namespace disconnect"]
    assert [e["id"] for e in log if e["kind"] == "disconnect"] == [r["id"]]


@pytest.mark.parametrize("transport", BOTH)
def test_events_during_async_connection_handler(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # On /slow the connection handler awaits before registering its handlers: events the client
    # emits at once are held and delivered to them, in order.
    r = run_scenario("slow-handler", interop_server.url, tag=tag, transport=transport)
    assert r["acks"] == [["early", i] for i in range(5)]


@pytest.mark.parametrize("transport", BOTH)
def test_events_and_disconnect_during_async_connection_handler(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # On /slow the connection handler awaits before registering its handlers. A client that
    # emits and disconnects at once: the event reaches the handler registered late, and so
    # does the disconnect (the app's cleanup runs), once per socket.
    r = run_scenario("quick-disconnect", interop_server.url, tag=tag, transport=transport, n=5)
    assert len(r["ids"]) == 5
    log = interop_server.wait_log(tag, lambda e: len(disconnects(e)) >= 5, timeout=3)
    recorded = sorted(e["args"][1] for e in log if e["kind"] == "record")
    gone = {e["id"]: e["reason"] for e in log if e["kind"] == "disconnect"}
    assert recorded == [0, 1, 2, 3, 4]
    assert gone == {sid: "client namespace disconnect" for sid in r["ids"]}


@pytest.mark.parametrize("transport", BOTH)
def test_engine_close_is_transport_close(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    run_scenario("engine-close", interop_server.url, tag=tag, transport=transport)
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["transport close"]


@pytest.mark.parametrize("transport", BOTH)
def test_client_vanishing_is_noticed_promptly(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # The server's ping timeout is 25 + 20 s; a closed TCP connection must be noticed long before.
    run_scenario("vanish", interop_server.url, tag=tag, transport=transport)
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)), timeout=8)
    assert disconnects(log) in (["transport close"], ["transport error"])


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnects_after_server_drops_transport(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("reconnect", interop_server.url, tag=tag, transport=transport)
    assert len(r["ids"]) == 2 and r["ids"][0] != r["ids"][1]
    assert r["reasons"] in (["transport close"], ["transport error"])
    assert r["echo"] == ["after reconnect"]
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    log = interop_server.wait_log(tag, lambda e: len(disconnects(e)) >= 2)
    assert [c["id"] for c in connects(log)] == r["ids"]


@pytest.mark.slow
@pytest.mark.parametrize("transport", BOTH)
def test_reconnects_after_server_restart(
    fresh_server: ServerProcess, tag: str, transport: str
) -> None:
    run = NodeRun("survive-restart", fresh_server.url, tag=tag, transport=transport)
    try:
        assert "connected" in run.next_event(timeout=10)
        fresh_server.stop()
        reason = run.next_event(timeout=10)["disconnected"]
        assert reason in ("transport close", "transport error")
        fresh_server.start()
        r = run.finish(timeout=25)
    finally:
        run.kill()
    assert len(r["ids"]) == 2 and r["ids"][0] != r["ids"][1]
    assert r["echo"] == ["after restart"]
    assert [c["id"] for c in connects(fresh_server.log(tag))] == [r["ids"][1]]


@pytest.mark.parametrize("transport", BOTH)
def test_server_side_operations_on_other_sockets(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("admin", interop_server.url, tag=tag, transport=transport)
    ids = r["ids"]
    # B was put in the room by the server (sockets_join); fetch_sockets sees both members.
    assert r["members"] == sorted([ids["A"], ids["B"]])
    # A broadcast with acks collects one reply per member.
    assert sorted(r["replies"]["replies"]) == ["hi:A", "hi:B"]
    # A member that never answers makes it time out.
    assert r["slow"]["error"] == "AckTimeout"
    # disconnect_sockets on the room: its members see a server disconnect, others carry on.
    assert r["reasons"]["A"] == r["reasons"]["B"] == ["io server disconnect"]
    assert r["reasons"]["C"] == r["reasons"]["D"] == []
    assert r["active"] == {"A": False, "B": False}
    assert r["membersAfter"] == []
    assert r["echo"] == ["C still here"]
    for name in ("A", "B"):
        log = interop_server.wait_log(f"{tag}-{name}", lambda e: bool(disconnects(e)))
        assert disconnects(log) == ["server namespace disconnect"]


@pytest.mark.parametrize("transport", BOTH)
def test_pending_call_ends_when_client_leaves(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # The server awaits socket.call(timeout=5); the client leaves after 0.2 s. The call must
    # end then (NotConnected), not hold the handler until the timeout.
    r = run_scenario("call-then-leave", interop_server.url, tag=tag, transport=transport)
    log = interop_server.wait_log(tag, lambda e: any(x["kind"] == "call-result" for x in e))
    results = [e for e in log if e["kind"] == "call-result"]
    assert [e["outcome"] for e in results] == ["NotConnected"]
    assert results[0]["elapsed"] < 2
    assert results[0]["id"] == r["id"]


@pytest.mark.parametrize("transport", BOTH)
def test_emit_in_connection_handler_follows_connect_reply(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("welcome", interop_server.url, tag=tag, transport=transport)
    assert r["payload"] == {"id": r["id"]}
    incoming = r["incoming"]
    connect_at = next(i for i, d in enumerate(incoming) if d.startswith("0/welcome,"))
    welcome_at = next(i for i, d in enumerate(incoming) if d.startswith('2/welcome,["welcome"'))
    assert connect_at < welcome_at, incoming


@pytest.mark.parametrize("transport", BOTH)
@pytest.mark.parametrize("kind", ["attachments", "size"])
def test_over_limit_message_closes_only_that_session(
    interop_server: ServerProcess, tag: str, transport: str, kind: str
) -> None:
    # 11 binary attachments (limit 10), or a 1.5 MB message (maxPayload 1 MB).
    r = run_scenario("over-limit", interop_server.url, tag=tag, transport=transport, kind=kind)
    assert r["reason"] in ("transport close", "transport error")
    assert r["echo"] == ["unaffected"]
    log = interop_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) in (["parse error"], ["transport close"])


def test_broadcast_to_many_clients_on_mixed_transports(
    interop_server: ServerProcess, tag: str
) -> None:
    r = run_scenario("fanout", interop_server.url, tag=tag, clients=30, n=20)
    assert r["sent"] == 20
    expected = [hexbytes(bytes([i])) if i % 5 == 0 else i for i in range(20)]
    assert set(r["transports"]) == {"polling", "websocket"}
    bad = {i: g for i, g in enumerate(r["got"]) if g != expected}
    assert bad == {}


@pytest.mark.parametrize("transport", BOTH)
def test_graceful_server_close_lets_clients_retry(
    fresh_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("server-close", fresh_server.url, tag=tag, transport=transport)
    # Not "io server disconnect": the client keeps trying to come back.
    assert r["reason"] in ("transport close", "transport error")
    assert r["active"] is True
    assert r["attempts"] >= 1
    log = fresh_server.wait_log(tag, lambda e: bool(disconnects(e)))
    assert disconnects(log) == ["server shutting down"]


@pytest.mark.parametrize("transport", BOTH)
def test_awkward_strings_round_trip(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # Record separators must not split a polling payload, control and non-ASCII characters
    # survive both ways.
    r = run_scenario("strings", interop_server.url, tag=tag, transport=transport)
    del r["echoed"]["loneSurrogate"]  # the last sample; see the next test
    assert r["echoed"] == {
        name: "same" for name in ("separator", "controls", "lineSeparators", "emoji", "quotes")
    }


@pytest.mark.parametrize("transport", BOTH)
def test_lone_surrogate_round_trips(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # JS strings may hold lone surrogates ("😀".slice(0, 1)); Node's server echoes them back.
    r = run_scenario("strings", interop_server.url, tag=tag, transport=transport)
    assert r["echoed"]["loneSurrogate"] == "same"


@pytest.mark.parametrize("transport", BOTH)
def test_message_sizes_around_frame_boundaries(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    r = run_scenario("sizes", interop_server.url, tag=tag, transport=transport)
    assert r["transport"] == transport
    assert r["checked"] == 50
    assert r["bad"] == []


@pytest.mark.parametrize("transport", BOTH)
def test_connect_again_after_server_disconnect(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # The documented pattern: on "io server disconnect", call socket.connect() to come back.
    r = run_scenario("connect-again", interop_server.url, tag=tag, transport=transport)
    assert r["reason1"] == r["reason2"] == "io server disconnect"
    # /custom comes back on the same Engine.IO connection, twice.
    assert r["again1"] == r["again2"] == {"connected": True}
    assert r["sameEngine"] is True
    assert r["customEcho"] == ["custom again"]
    assert r["customEcho2"] == ["custom again 2"]
    # / alone: a new connection.
    assert r["again3"] == {"connected": True}
    assert r["newEngine"] is True
    assert r["rootEcho"] == ["root again"]
    log = interop_server.wait_log(tag, lambda e: len(disconnects(e)) >= 5)
    assert sorted(c["nsp"] for c in connects(log)) == ["/", "/", "/custom", "/custom", "/custom"]


@pytest.mark.parametrize("transport", BOTH)
def test_server_sends_more_than_max_payload(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # maxPayload bounds what clients send; the server may send larger events (3 MB here).
    r = run_scenario("big-push", interop_server.url, tag=tag, transport=transport, size=3_000_000)
    assert r == {"acked": 3_000_000, "textOk": True, "binOk": True}


@pytest.mark.parametrize("transport", BOTH)
def test_server_closes_whole_connection(
    interop_server: ServerProcess, tag: str, transport: str
) -> None:
    # socket.disconnect(close=True): each namespace socket sees one server disconnect, and the
    # client does not try to reconnect.
    r = run_scenario("server-close-connection", interop_server.url, tag=tag, transport=transport)
    assert r["reasons"] == {"root": ["io server disconnect"], "custom": ["io server disconnect"]}
    assert r["reconnects"] == 0
    assert r["active"] == [False, False]
    log = interop_server.wait_log(tag, lambda e: len(disconnects(e)) >= 2)
    gone = sorted((e["nsp"], e["reason"]) for e in log if e["kind"] == "disconnect")
    assert gone == [
        ("/", "server namespace disconnect"),
        ("/custom", "server namespace disconnect"),
    ]
