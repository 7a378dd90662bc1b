"""``jupyter_rt.apps.chat`` under connection state recovery: a chatter whose connection drops
keeps its name and room, gets the lines said meanwhile once, and is announced only when it is
gone for good. An in-process server on a manual clock and the Python client (WebSocket)."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_rt.apps import chat
from jupyter_rt.client import AsyncClient
from jupyter_rt.clock import ManualClock
from jupyter_rt.server import MemoryAdapter
from jupyter_rt.testing import InProcessServer, wait_until

DURATION = 30.0  # max_disconnection_duration
EVENTS = ("nameResult", "joinResult", "message")


@pytest.fixture
def rt_server_options(rt_clock: ManualClock) -> dict[str, Any]:
    return {
        "setup": chat.setup,
        "clock": rt_clock,
        "connection_state_recovery": True,
        "max_disconnection_duration": DURATION,
    }


class Chatter:
    """A ``/chat`` client and everything it heard, in order, as ``(event, data)``."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.heard: list[tuple[str, Any]] = []
        for event in EVENTS:
            client.on(
                event, lambda data, event=event: self.heard.append((event, data)), namespace="/chat"
            )

    @classmethod
    async def join(cls, server: InProcessServer, room: str, **options: Any) -> Chatter:
        self = cls(server.client(reconnection_delay=1.0, randomization_factor=0, **options))
        await server.connect("/chat", transports=["websocket"], client=self.client)
        await self.wait_for("joinResult", {"room": "Lobby"})
        if room != "Lobby":
            await self.emit("join", {"newRoom": room})
            await self.wait_for("joinResult", {"room": room})
        return self

    async def emit(self, event: str, data: Any) -> None:
        await self.client.emit(event, data, namespace="/chat")

    async def say(self, room: str, *lines: str) -> None:
        """Say ``lines``; return once the server handled them (an ack after them, in order)."""
        for line in lines:
            await self.emit("message", {"room": room, "text": line})
        await self.client.call("rooms", namespace="/chat")

    async def rename(self, name: str) -> Any:
        await self.emit("nameAttempt", name)
        return await self.wait_for("nameResult")

    async def wait_for(self, event: str, data: Any = None) -> Any:
        def found() -> Any:
            for i, (name, value) in enumerate(self.heard):
                if name == event and (data is None or value == data):
                    del self.heard[: i + 1]
                    return (value,)
            return None

        return (await wait_until(found, message=lambda: f"{event} in {self.heard}"))[0]

    def lines(self) -> list[str]:
        return [data["text"] for event, data in self.heard if event == "message"]


async def away(server: InProcessServer, chatter: Chatter) -> str:
    """Drop ``chatter``'s connection (no DISCONNECT, as a network failure); return its socket id
    once the server saw it go."""
    sid = chatter.client.get_sid("/chat")
    assert sid is not None
    chatter.client.drop()
    await wait_until(lambda: sid not in server.io.of("/chat").sockets, message="the drop seen")
    return sid


async def test_a_recovered_chatter_keeps_its_name_and_room_and_hears_what_was_said_once(
    rt_server: InProcessServer,
) -> None:
    ada = await Chatter.join(rt_server, "Cellar")
    bob = await Chatter.join(rt_server, "Cellar")
    assert (await ada.rename("ada"))["success"] and (await bob.rename("bob"))["success"]
    await ada.say("Cellar", "before")
    await bob.wait_for("message", {"text": "ada: before"})
    ada.heard.clear()

    sid = await away(rt_server, ada)
    await bob.say("Cellar", "one", "two", "three")
    assert not ada.client.connected, "back before the lines were said: the test proves nothing"
    await wait_until(lambda: ada.client.connected, message="ada back")

    assert ada.client.recovered and ada.client.get_sid("/chat") == sid
    await wait_until(lambda: len(ada.lines()) == 3, message=lambda: f"ada heard {ada.heard}")
    await ada.say("Cellar", "back")
    await bob.wait_for("message", {"text": "ada: back"})  # same name, same room
    # The missed lines once, in order; no new name, no welcome to the Lobby, nothing announced.
    assert ada.heard == [("message", {"text": f"bob: {line}"}) for line in ("one", "two", "three")]
    assert bob.lines() == []
    assert (await bob.rename("ada"))["message"] == "That name is already in use."
    assert await ada.client.call("rooms", namespace="/chat") == ["Cellar"]


async def test_a_chatter_that_does_not_come_back_is_announced_gone_when_its_session_ends(
    rt_server: InProcessServer, rt_clock: ManualClock
) -> None:
    ada = await Chatter.join(rt_server, "Lobby", reconnection=False)
    bob = await Chatter.join(rt_server, "Lobby")
    assert (await ada.rename("ada"))["success"]
    await away(rt_server, ada)

    # While ada may come back, her name is hers and nobody is told she left.
    assert (await bob.rename("ada"))["message"] == "That name is already in use."
    rt_clock.advance(DURATION)
    await bob.say("Lobby", "still there?")
    assert bob.lines() == []

    rt_clock.advance(chat.AWAY_GRACE)
    await bob.wait_for("message", {"text": "ada has left Lobby."})
    assert (await bob.rename("ada")) == {"success": True, "name": "ada"}
    assert await bob.client.call("rooms", namespace="/chat") == ["Lobby"]


async def test_leaving_on_purpose_is_announced_at_once(rt_server: InProcessServer) -> None:
    ada = await Chatter.join(rt_server, "Lobby")
    bob = await Chatter.join(rt_server, "Lobby")
    assert (await ada.rename("ada"))["success"]
    await ada.client.disconnect()
    await bob.wait_for("message", {"text": "ada has left Lobby."})
    assert (await bob.rename("ada"))["success"]


@pytest.mark.parametrize(
    "options",
    [{}, {"connection_state_recovery": True, "adapter": MemoryAdapter}],
    ids=["recovery off", "an adapter that keeps no sessions"],
)
async def test_without_recovery_a_lost_connection_is_announced_at_once(
    options: dict[str, Any],
) -> None:
    async with InProcessServer(setup=chat.setup, **options) as server:
        ada = await Chatter.join(server, "Lobby", reconnection=False)
        bob = await Chatter.join(server, "Lobby")
        assert (await ada.rename("ada"))["success"]
        await away(server, ada)
        await bob.wait_for("message", {"text": "ada has left Lobby."})
