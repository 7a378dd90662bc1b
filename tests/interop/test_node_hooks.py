"""The official npm clients (socket.io-client and its engine.io-client 4.8) against the
engine's hooks and the details their own test suites rely on: ``allow_request``, cookies from
``initial_headers``, per-packet middleware, engine.io's error answers, and no NOOP racing a
client's first packets. Scenarios: ``tests/node/hooks.mjs``; server: ``tests.interop.hooks_app``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import run_node
from tests.interop.support import NODE_DIR, ServerProcess, node_binary

pytestmark = [pytest.mark.interop, pytest.mark.node, pytest.mark.timeout(60)]

SCRIPT = NODE_DIR / "hooks.mjs"
APP = "tests.interop.hooks_app"


def serve(*extra: str) -> Iterator[ServerProcess]:
    server = ServerProcess(None, *extra, module=APP)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hooks_server() -> Iterator[ServerProcess]:
    yield from serve()


@pytest.fixture(scope="module")
def small_server() -> Iterator[ServerProcess]:
    """The same app with ``max_payload`` 100, as the official client's test server has."""
    yield from serve("--max-payload", "100")


def scenario(name: str, server: ServerProcess, **options: Any) -> Any:
    node_binary()
    options.setdefault("deadline", 20_000)
    proc = run_node(SCRIPT, name, server.url, json.dumps(options), timeout=30)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT from {name}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    outcome = json.loads(lines[-1][len("RESULT ") :])
    assert outcome["ok"], f"{name} failed: {outcome['error']}\nserver:\n{server.tail()}"
    return outcome["result"]


def requests(server: ServerProcess, tag: str) -> list[dict[str, Any]]:
    return [e for e in server.log(tag) if e["kind"] == "request"]


def test_allow_request_refusal_is_the_clients_connect_error_over_polling(
    hooks_server: ServerProcess, tag: str
) -> None:
    error = scenario("refused", hooks_server, tag=tag, transport="polling")
    assert error == {
        "message": "xhr poll error",
        "type": "TransportError",
        "description": 403,
        "responseText": '{"code":4,"message":"Thou shall not pass"}',
    }
    assert requests(hooks_server, tag) == []  # refused before any session or hook


def test_allow_request_refusal_is_the_clients_connect_error_over_websocket(
    hooks_server: ServerProcess, tag: str
) -> None:
    error = scenario("refused", hooks_server, tag=tag, transport="websocket")
    assert error["message"] == "websocket error"
    assert "403" in error["description"]  # refused before the 101: the HTTP status shows


@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_the_client_keeps_the_cookies_of_initial_headers(
    hooks_server: ServerProcess, tag: str, transport: str
) -> None:
    result = scenario("cookies", hooks_server, tag=tag, transport=transport)
    assert result["echoed"] == ["after the handshake"]
    seen = requests(hooks_server, tag)
    first, later = seen[0], seen[1:]
    assert (first["sid"], first["cookie"]) == (None, None)  # the response that set them
    if transport == "websocket":
        assert later == []  # one request: the WebSocket handshake itself
        return
    assert later, "the client made no request after the handshake"
    for request in later:  # every polling request, and the upgrade's WebSocket, sent them back
        cookies = sorted(c.strip() for c in request["cookie"].split(";"))
        assert cookies == ["io-test=1", "lb=a"], request
    if transport == "upgrade":
        assert "websocket" in {r["transport"] for r in later}


@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_per_packet_middleware_with_the_official_client(
    hooks_server: ServerProcess, tag: str, transport: str
) -> None:
    result = scenario("packetMiddleware", hooks_server, tag=tag, transport=transport)
    assert result["answer"] == {"message": "unauthorized event"}  # the socket's error handler
    assert result["shouted"] == ["HI", "THERE"]  # changed in place by an async middleware
    assert result["still"] == ["still connected"]


@pytest.mark.parametrize("nsp", ["", "/late"])
def test_no_noop_races_the_first_packets_of_an_upgrading_client(
    hooks_server: ServerProcess, tag: str, nsp: str
) -> None:
    # socket.io-client's retry test counts what its first 100 ms bring: the Engine.IO OPEN, the
    # CONNECT, the ack. The NOOP that ends the upgrade's GET must not come among them, also when
    # the CONNECT reply comes after the probe (/late: as the middleware of an app takes time).
    result = scenario("firstPackets", hooks_server, tag=tag, transport="upgrade", nsp=nsp)
    sent = [p["data"] for p in result["sent"]]
    assert sent[:2] == [f"0{nsp}{',' if nsp else ''}", f'2{nsp}{"," if nsp else ""}0["echo",null]']
    received = result["received"]
    assert [p["type"] for p in received[:3]] == ["open", "message", "message"], received
    assert received[1]["data"].startswith(f'0{nsp}{"," if nsp else ""}{{"sid":')
    assert received[2]["data"] == f"3{nsp}{',' if nsp else ''}0[null]"
    noops = [p["t"] for p in received if p["type"] == "noop"]
    if noops and result["upgrading"] is not None:
        assert noops[0] - result["upgrading"] >= 80  # the server's 100 ms check, not at once


def test_engine_io_client_errors_carry_node_s_answers(small_server: ServerProcess) -> None:
    result = scenario("engineErrors", small_server)
    # As engine.io-client's own tests: a 413 with an empty body closes with "transport error".
    assert result["tooLarge"] == {
        "error": {
            "message": "xhr post error",
            "type": "TransportError",
            "description": 413,
            "responseText": "",
        },
        "reason": "transport error",
    }
    assert result["unknownSid"] == {
        "error": {
            "message": "xhr poll error",
            "type": "TransportError",
            "description": 400,
            "responseText": '{"code":1,"message":"Session ID unknown"}',
        },
        "reason": "transport error",
    }
