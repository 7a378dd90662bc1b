"""The seam for namespaces served elsewhere: ``Namespace.host``, ``Client.hosted`` routing,
``Server.attach_namespace``, and redefining a namespace (``reset``, ``remove_all_listeners``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from jupyter_rt.protocol.socketio import Packet, PacketType
from jupyter_rt.server import Namespace, Server, Socket
from jupyter_rt.server.client import Client
from tests.server.fakes import FakeSession


class RecordingHost:
    """A host that records what the clients hand it and answers CONNECT itself."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, str, dict[str, Any]]] = []
        self.packets: list[Packet] = []
        self.closed: list[tuple[str, str, str]] = []
        self.clients: list[Client] = []

    def connect(self, client: Client, name: str, auth: dict[str, Any]) -> None:
        self.clients.append(client)
        self.connects.append((client.session.sid, name, auth))
        client.session.send([f'0{name},{{"sid":"hosted"}}'])

    def receive(self, client: Client, packet: Packet) -> None:
        self.packets.append(packet)

    def client_closed(self, client: Client, name: str, reason: str) -> None:
        self.closed.append((client.session.sid, name, reason))


@pytest.fixture
def hosted(io: Server) -> RecordingHost:
    host = RecordingHost()
    nsp = Namespace(io, "/poll")
    nsp.host = host
    io.attach_namespace(nsp)
    return host


async def test_a_hosted_namespace_gets_the_connect_and_every_later_packet(
    io: Server, client: Any, hosted: RecordingHost
) -> None:
    session = client()
    session.receive('0/poll,{"k":1}', '2/poll,7["vote","a"]', "1/poll,")
    assert hosted.connects == [(session.sid, "/poll", {"k": 1})]
    assert [(p.type, p.data, p.id) for p in hosted.packets] == [
        (PacketType.EVENT, ["vote", "a"], 7),
        (PacketType.DISCONNECT, None, None),
    ]
    assert session.texts() == ['0/poll,{"sid":"hosted"}']
    session.close("transport close")
    assert hosted.closed == [(session.sid, "/poll", "transport close")]


async def test_packets_for_a_hosted_namespace_are_checked_first(
    io: Server, client: Any, hosted: RecordingHost
) -> None:
    session = client()
    session.receive("0/poll,", '2/poll,["connect"]')  # a reserved event name
    assert hosted.packets == []
    assert session.closed and session.close_reason == "parse error"
    assert hosted.closed == [(session.sid, "/poll", "parse error")]


async def test_other_namespaces_of_the_client_are_served_as_usual(
    io: Server, client: Any, hosted: RecordingHost
) -> None:
    events: list[Any] = []
    io.of("/chat").on("connection", lambda s: s.on("say", events.append))
    session = client()
    session.receive("0/poll,", "0/chat,", '2/chat,["say","hi"]', '2/poll,["vote","b"]')
    assert events == ["hi"]
    assert [p.data for p in hosted.packets] == [["vote", "b"]]


async def test_hosted_namespaces_count_against_the_client_limit() -> None:
    io = Server(max_namespaces_per_client=1)
    nsp = Namespace(io, "/poll")
    nsp.host = RecordingHost()
    io.attach_namespace(nsp)
    io.of("/chat")
    session = FakeSession(io).open()
    session.receive("0/poll,", "0/chat,")
    assert session.texts()[-1] == '4/chat,{"message":"Too many namespaces"}'


async def test_forget_host_looks_the_name_up_again(
    io: Server, client: Any, hosted: RecordingHost
) -> None:
    session = client()
    session.receive("0/poll,")
    [client_] = hosted.clients
    client_.forget_host("/poll")
    io.forget_namespace(io.namespaces["/poll"])
    session.receive("0/poll,")
    assert session.texts()[-1] == '4/poll,{"message":"Invalid namespace"}'
    assert len(hosted.connects) == 1
    session.close("transport close")
    assert hosted.closed == []


def test_attach_namespace_refuses_a_taken_name_or_another_server(io: Server) -> None:
    io.of("/chat")
    with pytest.raises(ValueError, match="exists"):
        io.attach_namespace(Namespace(io, "/chat"))
    with pytest.raises(ValueError, match="another server"):
        io.attach_namespace(Namespace(Server(), "/other"))


async def test_reset_and_remove_all_listeners_define_a_namespace_again(
    io: Server, client: Any
) -> None:
    nsp = io.of("/quiz")
    seen: list[str] = []

    def refuse_all(socket: Socket) -> None:
        raise RuntimeError("old middleware")

    nsp.use(refuse_all)
    nsp.on("connection", lambda s: seen.append("old connection"))
    nsp.reset()
    sockets: list[Socket] = []
    nsp.on("connection", sockets.append)
    session = client()
    session.connect("/quiz")
    [socket] = sockets
    socket.join("room")
    socket.on("ask", lambda: seen.append("old handler"))
    socket.on_any(lambda *args: seen.append("old catch-all"))
    socket.remove_all_listeners()
    socket.on("ask", lambda: seen.append("new handler"))
    session.receive('2/quiz,["ask"]')
    assert seen == ["new handler"]
    assert "room" in socket.rooms


def test_parent_for_finds_a_dynamic_namespace_without_making_a_child(io: Server) -> None:
    docs = io.of(re.compile(r"/doc-\w+"))
    assert io.parent_for("/doc-a") is docs
    assert io.parent_for("/other") is None
    assert "/doc-a" not in io.namespaces
