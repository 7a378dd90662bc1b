"""Disconnect reasons, malformed input, server close."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jupyter_rt.server import Server, Socket
from tests.server.fakes import FakeSession, settle


def watch(io: Server, nsp: str = "/") -> list[tuple[str, str, str]]:
    """Record (socket id, event, reason) for disconnecting/disconnect of every socket."""
    log: list[tuple[str, str, str]] = []

    @io.of(nsp).on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("disconnecting")
        def disconnecting(reason: str) -> None:
            log.append((socket.id, "disconnecting", reason))
            assert "still-here" in socket.rooms

        @socket.on("disconnect")
        async def disconnect(reason: str) -> None:
            log.append((socket.id, "disconnect", reason))
            assert socket.rooms == frozenset() and not socket.connected

        socket.join("still-here")

    return log


async def test_client_namespace_disconnect(io: Server, client: Any) -> None:
    log = watch(io)
    watch(io, "/chat")
    session = client()
    sid = session.connect()
    session.connect("/chat")
    session.receive("1")
    await settle()
    assert log == [
        (sid, "disconnecting", "client namespace disconnect"),
        (sid, "disconnect", "client namespace disconnect"),
    ]
    assert not session.closed and list(io.of("/chat").sockets) != []
    assert io.sockets.sockets == {}


async def test_server_namespace_disconnect(io: Server, client: Any) -> None:
    log = watch(io, "/chat")
    session = client()
    sid = session.connect("/chat")
    session.clear()
    io.of("/chat").sockets[sid].disconnect()
    await settle()
    assert session.texts() == ["1/chat,"]
    assert [entry[2] for entry in log] == ["server namespace disconnect"] * 2
    assert not session.closed


async def test_disconnect_close_closes_the_whole_connection(io: Server, client: Any) -> None:
    log = watch(io)
    watch(io, "/chat")
    session = client()
    sid = session.connect()
    session.connect("/chat")
    session.clear()
    io.sockets.sockets[sid].disconnect(close=True)
    await settle()
    assert sorted(session.texts()) == ["1", "1/chat,"]
    assert session.closed and session.close_reason == "forced close" and session.close_notify
    assert io.of("/chat").sockets == {}
    assert [entry[2] for entry in log] == ["server namespace disconnect"] * 2


@pytest.mark.parametrize(
    "reason", ["transport close", "transport error", "ping timeout", "forced close"]
)
async def test_engine_close_reasons_reach_the_handlers(
    io: Server, client: Any, reason: str
) -> None:
    log = watch(io)
    session = client()
    session.connect()
    session.close(reason)
    await settle()
    assert [entry[1:] for entry in log] == [("disconnecting", reason), ("disconnect", reason)]


MALFORMED = [
    "",
    "9",
    "x",
    '2{"not":"array"}',
    "2[]",
    '2[{"toString":"foo"}]',
    '2["disconnect"]',
    '2["connect_error"]',
    "2[1,2]",
    '2["ok",NaN]',
    '2["ok"',
    "3[]",
    '0"auth"',
    "1{}",
    "4{}",
    '51-["x",{"_placeholder":true,"num":5}]',
    '511-["x"]',
    "2/bad name,[]",
]


@pytest.mark.parametrize("frame", MALFORMED)
async def test_malformed_packet_closes_only_that_client(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture, frame: str
) -> None:
    log = watch(io)
    bad, good = client(), client()
    bad.connect()
    good.connect()
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        bad.receive(frame)
        if frame.startswith("5") and "num" in frame:
            bad.receive(b"\x00")
    await settle()
    assert bad.closed and bad.close_reason == "parse error"
    assert not good.closed
    assert [entry[2] for entry in log] == ["parse error", "parse error"]
    assert f"Closing session {bad.sid}" in caplog.text


async def test_binary_frame_when_none_expected_closes(io: Server, client: Any) -> None:
    session = client()
    session.connect()
    session.receive(b"\x00\x01")
    assert session.close_reason == "parse error"


async def test_too_many_events_queued_before_ready_closes() -> None:
    io = Server(max_queued_events=3)

    @io.on("connection")
    async def never_ready(socket: Socket) -> None:
        await socket.call("never")

    session = FakeSession(io).open()
    session.connect()
    for i in range(3):
        session.receive(f'2["x",{i}]')
    assert not session.closed
    session.receive('2["x",3]')
    assert (session.closed, session.close_reason) == (True, "parse error")
    await settle()


async def test_messages_after_close_are_ignored(io: Server, client: Any) -> None:
    session = client()
    session.connect()
    session.close("transport close")
    io.on_engine_message(session, '2["x"]')
    assert io._clients == {}


async def test_server_close_disconnects_everyone_so_they_reconnect(io: Server, client: Any) -> None:
    log = watch(io)
    sessions = [client(), client()]
    for session in sessions:
        session.connect()
    await io.close()
    await settle()
    assert all(s.closed and s.close_reason == "server shutting down" for s in sessions)
    assert all(s.close_notify is False for s in sessions)
    assert [entry[2] for entry in log] == ["server shutting down"] * 4
    late = client()
    assert late.closed and late.close_notify is False
