"""What the Admin UI is shown of a socket: the admin-ui's shape, bounded, and no credential."""

from __future__ import annotations

import json
from typing import Any

from jupyter_rt.admin._serialize import MAX_ITEMS, MAX_STRING, json_safe, serialize_socket
from jupyter_rt.clock import ManualClock
from jupyter_rt.server import MemoryAdapter, RemoteSocket, Server, Socket, SocketHandshake
from tests.server.fakes import FakeSession

SECRETS = ("tok-123456", "cookie-abcdef", "bearer-xyz987", "xsrf-777777", "auth-pw-4242")


def connected_socket() -> tuple[FakeSession, Socket]:
    io = Server(clock=ManualClock())
    sockets: list[Socket] = []
    io.of("/chat").on("connection", sockets.append)
    session = FakeSession(
        io,
        headers={
            "cookie": f"session={SECRETS[1]}",
            "authorization": f"token {SECRETS[2]}",
            "x-xsrftoken": SECRETS[3],
            "user-agent": "test",
        },
        query={"EIO": "4", "token": SECRETS[0]},
        url=f"/socket.io/?EIO=4&transport=websocket&token={SECRETS[0]}",
    ).open()
    session.connect("/chat", auth={"password": SECRETS[4]})
    socket = sockets[0]
    socket.join("Lobby")
    socket.data["nick"] = "ada"
    return session, socket


def test_a_local_socket_in_the_admin_ui_shape_without_credentials() -> None:
    session, socket = connected_socket()
    shown = serialize_socket(socket, "/chat")
    assert set(shown) == {"id", "clientId", "transport", "nsp", "data", "handshake", "rooms"}
    assert shown["id"] == socket.id
    assert shown["nsp"] == "/chat"
    assert shown["transport"] == "websocket"
    assert shown["rooms"] == sorted([socket.id, "Lobby"])
    assert shown["data"] == {"nick": "ada"}
    assert shown["clientId"] != session.sid and session.sid not in json.dumps(shown)
    handshake = shown["handshake"]
    assert "auth" not in handshake
    assert handshake["headers"]["user-agent"] == "test"
    assert handshake["headers"]["cookie"] == "[secret]"
    assert handshake["query"]["token"] == "[secret]"
    text = json.dumps(shown)
    for secret in SECRETS:
        assert secret not in text


def test_a_remote_socket_keeps_what_a_node_server_left_in_data() -> None:
    io = Server(clock=ManualClock())
    _, local = connected_socket()
    remote = RemoteSocket(
        MemoryAdapter(io.of("/chat")),
        "remote-id",
        SocketHandshake.from_dict(local.handshake.to_dict()),
        frozenset({"remote-id", "Lobby"}),
        {"_admin": {"clientId": "c0ffee", "transport": "polling"}, "nick": "bob"},
    )
    shown = serialize_socket(remote, "/chat")
    assert (shown["clientId"], shown["transport"]) == ("c0ffee", "polling")
    assert shown["data"] == {"nick": "bob"}
    text = json.dumps(shown)
    for secret in SECRETS:
        assert secret not in text


def test_values_are_bounded_and_json() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    deep: Any = "bottom"
    for _ in range(20):
        deep = [deep]
    value = {
        "long": "x" * (MAX_STRING + 50),
        "blob": b"\x00" * 10,
        "many": list(range(MAX_ITEMS + 5)),
        "odd": Thing(),
        "nan": float("nan"),
        "deep": deep,
    }
    safe = json_safe(value)
    json.dumps(safe, allow_nan=False)
    assert safe["long"].startswith("x" * MAX_STRING) and safe["long"].endswith("characters)")
    assert safe["blob"] == "<binary, 10 bytes>"
    assert len(safe["many"]) == MAX_ITEMS + 1 and safe["many"][-1] == "… 5 more items"
    assert safe["odd"] == "<thing>"
    assert safe["nan"] == "nan"
    assert "<nested too deep>" in json.dumps(safe["deep"])
