"""``instrument(io)`` against the official socket.io-client, as the Admin UI page uses it: what
the UI receives in each mode, and what its buttons do."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from jupyter_rt import ConnectionRefused, Server, Socket
from jupyter_rt.adapters.redis import RedisAdapter
from jupyter_rt.admin import AdminUI, instrument
from jupyter_rt.clock import ManualClock
from jupyter_rt.testing import InProcessServer, wait_until
from tests.adapters.redis.support import unique_prefix
from tests.admin.support import AdminClient
from tests.helpers import RedisServer

pytestmark = [pytest.mark.node, pytest.mark.interop]

SECRETS = ("s3cret-token", "pass-word")


def chat(io: Server) -> None:
    """/chat: ``join(room)``, ``say(room, text)`` → ``said(text)`` to the room."""

    @io.of("/chat").on("connection")
    def on_connection(socket: Socket) -> None:
        socket.on("join", lambda room: socket.join(room))

        @socket.on("say")
        async def say(room: str, text: str) -> None:
            await io.of("/chat").to(room).emit("said", text)


class Served:
    """An in-process server with /chat, instrumented; its clock moves by hand."""

    def __init__(self, server: InProcessServer, admin: AdminUI, clock: ManualClock) -> None:
        self.server = server
        self.io = server.io
        self.admin = admin
        self.clock = clock
        self.admins: list[AdminClient] = []

    async def admin_client(self, **options: Any) -> AdminClient:
        # WebSocket only: the server's ManualClock never runs the engine's 100 ms upgrade
        # check, so a polling client would wait for its upgrade forever.
        options.setdefault("transports", ["websocket"])
        client = AdminClient(f"{self.server.url}/admin", **options)
        self.admins.append(client)
        return await client.start()

    def socket(self, sid: str, nsp: str = "/chat") -> Socket | None:
        return self.io.of(nsp).sockets.get(sid)


@pytest.fixture
async def make_served() -> AsyncIterator[Callable[..., Any]]:
    made: list[Served] = []

    async def make(**admin_options: Any) -> Served:
        clock = ManualClock(1000.0)
        server = InProcessServer(setup=chat, clock=clock).start()
        admin_options.setdefault("auth", False)
        admin = instrument(server.io, server_id="test-server", **admin_options)
        served = Served(server, admin, clock)
        made.append(served)
        return served

    yield make
    for served in made:
        for client in served.admins:
            await client.close()
        served.admin.close()
        await served.server.close()


@pytest.fixture
async def served(make_served: Callable[..., Any]) -> AsyncIterator[Served]:
    yield await make_served()


def no_secret_in(events: list[list[Any]]) -> None:
    text = json.dumps(events)
    for secret in SECRETS:
        assert secret not in text


async def test_development_mode_shows_sockets_rooms_and_events(served: Served) -> None:
    first = await served.server.connect(
        "/chat", auth={"password": SECRETS[1]}, query={"token": SECRETS[0]}
    )
    first_sid = first.get_sid("/chat")
    admin = await served.admin_client()

    (config,) = await admin.next("config")
    assert config == {
        "supportedFeatures": [
            *("EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT"),
            *("AGGREGATED_EVENTS", "ALL_EVENTS"),
        ]
    }
    (stats,) = await admin.next("server_stats")
    assert stats["serverId"] == "test-server"
    assert {"name": "/chat", "socketsCount": 1} in stats["namespaces"]
    assert stats["clientsCount"] == 2  # the chat client and the admin
    (sockets,) = await admin.next("all_sockets")
    (listed,) = [s for s in sockets if s["nsp"] == "/chat"]
    assert listed["id"] == first_sid
    assert listed["rooms"] == [first_sid]
    assert listed["transport"] == "websocket"
    assert listed["handshake"]["query"]["token"] == "[secret]"
    assert "auth" not in listed["handshake"]
    assert first_sid in [s["id"] for s in sockets]

    await first.emit("join", "Lobby", namespace="/chat")
    received = await admin.next("event_received")
    assert received[:3] == ["/chat", first_sid, ["join", "Lobby"]]
    assert received[3].endswith("Z")  # a Date, as the UI reads it
    joined = await admin.next("room_joined")
    assert joined[:3] == ["/chat", "Lobby", first_sid]

    second = await served.server.connect("/chat")
    second_sid = second.get_sid("/chat")
    (connected, _when) = await admin.next("socket_connected", lambda a: a[0]["id"] == second_sid)
    assert connected["nsp"] == "/chat"
    assert connected["clientId"] and connected["clientId"] != second.eio_sid

    await first.emit("say", "Lobby", "hello", namespace="/chat")
    sent = await admin.next("event_sent")
    assert sent[:3] == ["/chat", first_sid, ["said", "hello"]]

    await first.disconnect()
    left = await admin.next("room_left", lambda a: a[1] == "Lobby")
    assert left[:3] == ["/chat", "Lobby", first_sid]
    gone = await admin.next("socket_disconnected", lambda a: a[1] == first_sid)
    assert gone[:3] == ["/chat", first_sid, "client namespace disconnect"]

    served.clock.advance(2)  # the periodic server_stats, with the counts of the last seconds
    stats = await admin.next("server_stats", lambda a: a[0]["aggregatedEvents"])
    kinds = {item["type"] for item in stats[0]["aggregatedEvents"]}
    assert {"rawConnection", "rawDisconnection", "packetsIn", "bytesIn", "packetsOut"} <= kinds
    no_secret_in(admin.events)


async def test_the_ui_buttons_join_leave_and_disconnect(served: Served) -> None:
    client = await served.server.connect("/chat")
    sid = client.get_sid("/chat")
    assert sid is not None
    admin = await served.admin_client()
    await admin.next("all_sockets")

    await admin.emit("join", "/chat", "VIP", sid)  # a socket's "join a room"
    await admin.next("room_joined", lambda a: a[1] == "VIP")
    socket = served.socket(sid)
    assert socket is not None and "VIP" in socket.rooms

    await admin.emit("leave", "/chat", "VIP")  # a room's "make everyone leave"
    await admin.next("room_left", lambda a: a[1] == "VIP")
    assert "VIP" not in socket.rooms

    await admin.emit("_disconnect", "/chat", False, sid)  # a socket's "disconnect"
    gone = await admin.next("socket_disconnected", lambda a: a[1] == sid)
    assert gone[2] == "server namespace disconnect"
    await wait_until(lambda: "/chat" not in client.namespaces)


async def test_a_command_on_an_unknown_namespace_creates_nothing(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    served.io.of("/admin").on("connection", lambda s: s.on("probe", seen.append))
    admin = await served.admin_client()
    with caplog.at_level(logging.WARNING, "jupyter_rt.admin"):
        await admin.emit("join", "/nope", "room", "someone")
        await admin.emit("_disconnect", {"not": "a name"}, True)
        await admin.emit("probe", "done")  # handled after the commands above
        await wait_until(lambda: seen == ["done"])
    assert "/nope" not in served.io.namespaces
    assert any("no namespace '/nope'" in r.getMessage() for r in caplog.records)


async def test_read_only_offers_no_command_and_obeys_none(
    make_served: Callable[..., Any],
) -> None:
    served = await make_served(read_only=True)
    seen: list[str] = []
    served.io.of("/admin").on("connection", lambda s: s.on("probe", seen.append))
    client = await served.server.connect("/chat")
    sid = client.get_sid("/chat")
    admin = await served.admin_client()
    (config,) = await admin.next("config")
    assert config["supportedFeatures"] == ["AGGREGATED_EVENTS", "ALL_EVENTS"]
    await admin.emit("join", "/chat", "VIP", sid)
    await admin.emit("_disconnect", "/chat", True, sid)
    await admin.emit("probe", "done")
    await wait_until(lambda: seen == ["done"])
    socket = served.socket(str(sid))
    assert socket is not None and socket.connected and "VIP" not in socket.rooms


async def test_production_mode_sends_counts_only(make_served: Callable[..., Any]) -> None:
    served = await make_served(mode="production")
    admin = await served.admin_client()
    (config,) = await admin.next("config")
    assert "ALL_EVENTS" not in config["supportedFeatures"]
    assert "JOIN" in config["supportedFeatures"]  # the buttons work in both modes
    client = await served.server.connect("/chat")
    said: list[str] = []
    client.on("said", said.append, namespace="/chat")
    await client.emit("join", "Lobby", namespace="/chat")
    await client.emit("say", "Lobby", "x" * 100, namespace="/chat")
    await wait_until(lambda: said)
    served.clock.advance(2)
    (stats,) = await admin.next("server_stats", lambda a: a[0]["aggregatedEvents"])
    counts: dict[str, int] = {}
    for item in stats["aggregatedEvents"]:
        counts[item["type"]] = counts.get(item["type"], 0) + item["count"]
    assert counts["rawConnection"] >= 1
    assert counts["packetsIn"] >= 2 and counts["bytesIn"] > 100
    assert counts["packetsOut"] >= 1 and counts["bytesOut"] > 100  # "said" to the room
    names = {event[0] for event in admin.events}
    assert names == {"config", "server_stats"}  # no sockets, no events


async def test_the_auth_middleware_decides_who_is_an_admin(
    make_served: Callable[..., Any],
) -> None:
    def only_with_the_key(socket: Socket) -> None:
        if socket.handshake.query.get("admin_key") != "open-sesame":
            raise ConnectionRefused("not an admin")

    served = await make_served(auth=only_with_the_key)
    refused = await served.admin_client()
    assert refused.refusal == "not an admin"
    assert refused.events == []
    admitted = await served.admin_client(query={"admin_key": "open-sesame"})
    assert admitted.connected
    await admitted.next("config")


async def test_close_stops_reporting_and_refuses_admins(served: Served) -> None:
    admin = await served.admin_client()
    await admin.next("all_sockets")
    served.admin.close()
    await wait_until(lambda: any(line.startswith("DISCONNECTED") for line in admin.lines))
    assert served.io.observer is None
    later = await served.admin_client()
    assert later.refusal == "the Admin UI is closed"


def test_instrument_needs_a_known_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        instrument(Server(clock=ManualClock()), auth=False, mode="verbose")  # type: ignore[arg-type]


@pytest.mark.redis
async def test_with_redis_the_servers_show_side_by_side(redis_server: RedisServer) -> None:
    prefix = unique_prefix()
    servers: list[InProcessServer] = []
    admins: list[AdminUI] = []
    client: AdminClient | None = None
    try:
        for name in ("A", "B"):
            server = InProcessServer(
                setup=chat, adapter=RedisAdapter.factory(redis_server.url, prefix=prefix)
            ).start()
            await server.io.ready()
            servers.append(server)
            admins.append(instrument(server.io, auth=False, server_id=name, stats_interval=0.2))
        a, b = servers
        on_b = await b.connect("/chat")
        on_b_sid = on_b.get_sid("/chat")
        client = await AdminClient(f"{a.url}/admin").start()  # the UI talks to A only

        await client.next("server_stats", lambda s: s[0]["serverId"] == "A")
        stats_b = await client.next("server_stats", lambda s: s[0]["serverId"] == "B")
        assert {"name": "/chat", "socketsCount": 1} in stats_b[0]["namespaces"]
        (sockets,) = await client.next("all_sockets")
        assert on_b_sid in [s["id"] for s in sockets if s["nsp"] == "/chat"]  # across Redis

        late = await b.connect(
            "/chat", transports=["websocket"]
        )  # reported by B, through Redis, to A's admin
        late_sid = late.get_sid("/chat")
        (shown, _when) = await client.next("socket_connected", lambda a: a[0]["id"] == late_sid)
        assert shown["transport"] == "websocket"

        await client.emit("_disconnect", "/chat", False, on_b_sid)  # a button on A, a socket on B
        gone = await client.next("socket_disconnected", lambda a: a[1] == on_b_sid)
        assert gone[2] == "server namespace disconnect"
        await wait_until(lambda: "/chat" not in on_b.namespaces)
    finally:
        if client is not None:
            await client.close()
        for admin in admins:
            admin.close()
        for server in servers:
            await server.close()
            await server.io.close()
