"""``watch(io)``: the "Realtime" panel's namespace, against a real server in the test's loop and
its clients; the updates' throttle runs on a :class:`ManualClock`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jupyter_rt import ConnectionRefused, Server, Socket
from jupyter_rt.client import AsyncClient
from jupyter_rt.clock import ManualClock
from jupyter_rt.monitor import MONITOR_NAMESPACE, Monitor, watch
from jupyter_rt.monitor.jupyter import MonitorAccess
from jupyter_rt.testing import InProcessServer, wait_until

SECRETS = ("s3cret-token", "pass-word", "cookie-value")


def chat(io: Server) -> None:
    """/chat: ``join(room)`` and ``say(room, text)`` (→ ``said(text)`` to the room), acked."""
    nsp = io.of("/chat")

    @nsp.on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("join")
        def join(room: str) -> bool:
            socket.join(room)
            return True

        @socket.on("say")
        async def say(room: str, text: str) -> bool:
            await nsp.to(room).emit("said", text)
            return True


class Served:
    """An in-process server with /chat and its monitor; its clock moves by hand."""

    def __init__(self) -> None:
        self.clock = ManualClock(1000.0)
        self.server = InProcessServer(setup=chat, clock=self.clock).start()
        self.io = self.server.io
        self.monitor: Monitor = watch(self.io, auth=False)

    async def client(self, *namespaces: str, **options: Any) -> AsyncClient:
        # WebSocket only: the ManualClock never runs the engine's upgrade check.
        return await self.server.connect(*namespaces, transports=["websocket"], **options)

    async def watcher(self) -> Watcher:
        watcher = Watcher()
        client = self.server.client()
        client.on("snapshot", watcher.snapshots.append, namespace=MONITOR_NAMESPACE)
        client.on("update", watcher.updates.append, namespace=MONITOR_NAMESPACE)
        await self.server.connect(MONITOR_NAMESPACE, transports=["websocket"], client=client)
        watcher.client = client
        await wait_until(lambda: watcher.snapshots)
        return watcher


class Watcher:
    def __init__(self) -> None:
        self.client: AsyncClient | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = Served()
    yield served
    served.monitor.close()
    await served.server.close()


def namespace(view: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [nsp for nsp in view["namespaces"] if nsp["name"] == name]
    return found


async def test_the_snapshot_shows_namespaces_rooms_and_sockets(served: Served) -> None:
    ada = await served.client(
        "/chat",
        auth={"password": SECRETS[1]},
        query={"token": SECRETS[0]},
        headers={"Cookie": f"_xsrf={SECRETS[2]}"},
    )
    assert await ada.call("join", "Lobby", namespace="/chat") is True
    await served.client("/chat")

    watcher = await served.watcher()
    (snapshot,) = watcher.snapshots
    assert snapshot["interval"] == 0.5
    assert snapshot["history"] == []
    assert snapshot["sockets"] == 2
    assert snapshot["clients"] == 3  # the two chat clients and the watcher's
    assert MONITOR_NAMESPACE not in [nsp["name"] for nsp in snapshot["namespaces"]]
    room_chat = namespace(snapshot, "/chat")
    assert room_chat["socketCount"] == 2
    assert room_chat["rooms"] == [{"name": "Lobby", "members": 1}]
    assert {"id": ada.get_sid("/chat"), "transport": "websocket", "user": None} in room_chat[
        "sockets"
    ]
    assert namespace(snapshot, "/")["socketCount"] == 0
    text = json.dumps(snapshot)
    for secret in SECRETS:
        assert secret not in text


async def test_updates_come_at_most_twice_a_second_and_only_when_something_happened(
    served: Served,
) -> None:
    ada = await served.client("/chat")
    assert await ada.call("join", "Lobby", namespace="/chat") is True
    watcher = await served.watcher()

    for index in range(5):
        assert await ada.call("say", "Lobby", f"hello {index}", namespace="/chat") is True
    served.clock.advance(0.25)  # within the interval: nothing yet
    assert await ada.call("say", "Lobby", "one more", namespace="/chat") is True
    assert watcher.updates == []
    served.clock.advance(0.25)
    (update,) = await wait_until(lambda: watcher.updates)
    assert update["received"] == 6  # the says
    assert update["sent"] == 6  # each "said" to the one member of Lobby
    assert update["sockets"] == 1
    assert "namespaces" not in update  # nobody came, went, joined or left

    served.clock.advance(2.0)  # quiet: no update at all
    bob = await served.client("/chat")  # then a socket comes: the whole view again
    served.clock.advance(0.5)
    later = await wait_until(lambda: watcher.updates[1:])
    assert len(watcher.updates) == 2
    assert later[0]["sockets"] == 2
    assert namespace(later[0], "/chat")["socketCount"] == 2

    # Busy for three seconds (an event every 0.1 s): six updates, no more.
    for _ in range(30):
        assert await bob.call("say", "Lobby", "busy", namespace="/chat") is True
        served.clock.advance(0.1)
    assert await bob.call("join", "Kitchen", namespace="/chat") is True
    served.clock.advance(0.5)  # a last update, to know every earlier one has arrived
    await wait_until(lambda: any("namespaces" in u for u in watcher.updates[2:]))
    assert len(watcher.updates) == 2 + 6 + 1
    assert sum(u["received"] for u in watcher.updates[2:]) == 30 + 1

    # A watcher arriving now gets the chart so far.
    second = await served.watcher()
    history = second.snapshots[0]["history"]
    assert [sample[1] for sample in history] == [u["received"] for u in watcher.updates]


async def test_room_changes_update_the_member_counts(served: Served) -> None:
    ada = await served.client("/chat")
    bob = await served.client("/chat")
    watcher = await served.watcher()
    assert await ada.call("join", "Lobby", namespace="/chat") is True
    assert await bob.call("join", "Lobby", namespace="/chat") is True
    served.clock.advance(0.5)
    (update,) = await wait_until(lambda: watcher.updates)
    assert namespace(update, "/chat")["rooms"] == [{"name": "Lobby", "members": 2}]
    await bob.disconnect()
    served.clock.advance(0.5)
    await wait_until(lambda: watcher.updates[1:])
    assert namespace(watcher.updates[1], "/chat")["rooms"] == [{"name": "Lobby", "members": 1}]


async def test_nothing_is_observed_while_nobody_watches(served: Served) -> None:
    ada = await served.client("/chat")
    assert served.io.observer is None
    watcher = await served.watcher()
    assert served.monitor.watched and served.io.observer is not None
    assert watcher.client is not None
    await watcher.client.disconnect()
    await wait_until(lambda: not served.monitor.watched)
    assert served.io.observer is None
    assert await ada.call("say", "Lobby", "unwatched", namespace="/chat") is True
    served.clock.advance(5)  # no timer of the monitor's is left to fire
    assert watcher.updates == []


async def test_a_connection_without_the_servers_credentials_is_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = InProcessServer(setup=chat).start()
    monitor = watch(server.io, auth=MonitorAccess("server-token").middleware)
    try:
        with pytest.raises(ConnectionRefused, match="needs Jupyter auth"):
            await server.connect(MONITOR_NAMESPACE, query={"token": SECRETS[0]})
        chat_client = await server.connect("/chat")  # others are served
        assert await chat_client.call("join", "Lobby", namespace="/chat") is True
    finally:
        monitor.close()
        await server.close()
    refusals = [r.getMessage() for r in caplog.records if r.name == "jupyter_rt.monitor"]
    assert any("Refused a monitor connection" in message for message in refusals)
    assert SECRETS[0] not in caplog.text
