"""``jupyter_rt.apps.chat`` end to end: nicknames, rooms, messages, announcements, with both
official clients passing the token (and logged-in browsers' cookies for the nicknames)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import socketio

from tests.jupyter.support import STEP, Inbox, Jupyter, NodeClient, run_client, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.interop, pytest.mark.timeout(60)]

CHAT = "/chat"
EVENTS = ("nameResult", "joinResult", "message")
GUEST_REFUSED = {"success": False, "message": 'Names cannot begin with "Guest".'}
TAKEN = {"success": False, "message": "That name is already in use."}
TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


class ChatClient:
    """A python-socketio client of ``/chat`` and what it received."""

    def __init__(self, sio: socketio.AsyncClient, inbox: Inbox) -> None:
        self.sio = sio
        self.inbox = inbox
        self.nick = ""

    async def start(self) -> ChatClient:
        self.nick = (await self.inbox.next("nameResult"))["name"]
        assert await self.inbox.next("joinResult") == {"room": "Lobby"}
        return self

    async def emit(self, event: str, *args: Any) -> None:
        await self.sio.emit(event, args[0] if len(args) == 1 else args, namespace=CHAT)

    async def rename(self, name: str) -> dict[str, Any]:
        await self.emit("nameAttempt", name)
        return dict(await self.inbox.next("nameResult"))

    async def join(self, room: str) -> None:
        await self.emit("join", {"newRoom": room})
        assert await self.inbox.next("joinResult") == {"room": room}

    async def say(self, room: str, text: str) -> None:
        await self.emit("message", {"room": room, "text": text})

    async def heard(self) -> str:
        return str((await self.inbox.next("message"))["text"])

    async def rooms(self) -> list[str]:
        return list(await self.sio.call("rooms", namespace=CHAT, timeout=STEP))

    async def quiet(self) -> list[str]:
        """Messages that arrived by now (after giving in-flight ones a moment)."""
        await asyncio.sleep(0.3)
        return [m["text"] for m in self.inbox.pending("message")]


ChatFactory = Callable[..., Any]


@pytest.fixture
async def chat_client(jupyter: Jupyter) -> AsyncIterator[ChatFactory]:
    """``await chat_client(transport=..., headers=..., token_in_url=...)`` → a started client."""
    async with AsyncExitStack() as stack:

        async def start(transport: str = "upgrade", **options: Any) -> ChatClient:
            inbox = Inbox()
            sio = await stack.enter_async_context(
                sio_client(
                    jupyter,
                    [CHAT],
                    TRANSPORTS[transport],
                    setup=inbox.listener(CHAT, *EVENTS),
                    **options,
                )
            )
            return await ChatClient(sio, inbox).start()

        yield start


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_two_python_clients_chat_in_rooms(chat_client: ChatFactory, transport: str) -> None:
    a = await chat_client(transport)
    b = await chat_client(transport)
    assert a.nick and b.nick and a.nick != b.nick
    assert await a.heard() == f"{b.nick} has joined Lobby."

    assert await a.rename("Guest42") == GUEST_REFUSED
    assert await a.rename("ada") == {"success": True, "name": "ada"}
    assert await b.heard() == f"{a.nick} is now known as ada."
    assert await b.rename("ada") == TAKEN
    assert await b.rename("bob") == {"success": True, "name": "bob"}
    assert await a.heard() == f"{b.nick} is now known as bob."

    # Same room: the other one hears it, the sender does not.
    await a.say("Lobby", "hello lobby")
    assert await b.heard() == "ada: hello lobby"

    # Different rooms: nobody hears the other room.
    await b.join("Cellar")
    assert await a.heard() == "bob has left Lobby."
    assert await a.rooms() == ["Cellar", "Lobby"]
    await a.say("Lobby", "anyone?")
    await b.say("Cellar", "down here")
    await b.say("Lobby", "not in it any more")  # a room b left: dropped
    assert await a.quiet() == []
    assert await b.quiet() == []

    await a.join("Cellar")
    assert await b.heard() == "ada has joined Cellar."
    await b.say("Cellar", "welcome")
    assert await a.heard() == "bob: welcome"
    assert await b.rooms() == ["Cellar"]
    assert await a.quiet() == []
    assert await b.quiet() == []


async def test_leaving_is_announced_and_frees_the_nickname(chat_client: ChatFactory) -> None:
    a = await chat_client()
    b = await chat_client()
    await a.heard()
    assert await b.rename("carol") == {"success": True, "name": "carol"}
    await a.heard()
    await b.sio.disconnect()
    assert await a.heard() == "carol has left Lobby."
    assert await a.rename("carol") == {"success": True, "name": "carol"}


async def test_bad_requests_are_ignored_or_refused(chat_client: ChatFactory) -> None:
    a = await chat_client()
    assert (await a.rename(""))["success"] is False
    assert (await a.rename("x" * 41))["success"] is False
    assert (await a.rename(7))["success"] is False
    await a.emit("join", "not an object")
    await a.emit("join", {"newRoom": ""})
    too_long = await a.sio.call("join", {"newRoom": "x" * 41}, namespace=CHAT, timeout=STEP)
    assert too_long == {"ok": False, "error": "room names are at most 40 characters"}
    await a.emit("message", "not an object")
    await a.emit("message", {"room": "Lobby", "text": 5})
    assert await a.rooms() == ["Lobby"]
    assert a.inbox.pending("joinResult") == []


async def test_guest_nicknames_and_jupyter_display_names(
    jupyter: Jupyter, chat_client: ChatFactory
) -> None:
    """A logged-in user chats under the Jupyter display name while it is free; Guests after."""
    login = await jupyter.login()
    display_name = (await jupyter.identity(login.header()))["display_name"]
    # python-engineio sends headers with its first request only: one request, the WebSocket.
    as_user = {"transport": "websocket", "headers": login.header(), "token_in_url": False}
    first = await chat_client(**as_user)
    second = await chat_client(**as_user)
    third = await chat_client(**as_user)
    assert first.nick == display_name
    assert (second.nick, third.nick) == ("Guest1", "Guest2")
    assert await second.rename(display_name) == TAKEN
    assert await second.rename("Guest1") == GUEST_REFUSED
    await first.sio.disconnect()
    fourth = await chat_client(**as_user)
    assert fourth.nick == display_name


async def test_token_clients_are_named_after_their_anonymous_jupyter_user(
    chat_client: ChatFactory,
) -> None:
    a = await chat_client()
    assert re.fullmatch(r"Anonymous \S+|Guest\d+", a.nick), a.nick


# -- npm socket.io-client -----------------------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize(("transport", "auth"), [("polling", "query"), ("upgrade", "header")])
async def test_two_node_clients_chat_in_rooms(jupyter: Jupyter, transport: str, auth: str) -> None:
    r = await run_client(
        "chat", jupyter, transport=transport, auth=auth, nameA="ada", nameB="bob", room="Cellar"
    )
    nick_a, nick_b = r["guestA"]["name"], r["guestB"]["name"]
    assert r["guestA"]["success"] and r["guestB"]["success"] and nick_a != nick_b
    assert r["lobbyA"] == r["lobbyB"] == {"room": "Lobby"}
    assert r["guestRefused"] == GUEST_REFUSED
    assert r["renamedA"] == {"success": True, "name": "ada"}
    assert r["renameAnnounced"] == {"text": f"{nick_a} is now known as ada."}
    assert r["takenRefused"] == TAKEN
    assert r["renamedB"] == {"success": True, "name": "bob"}
    assert r["sameRoom"] == {"text": "ada: same room"}
    assert r["joinedB"] == {"room": "Cellar"}
    assert r["leftAnnounced"] == {"text": "bob has left Lobby."}
    assert r["rooms"] == ["Cellar", "Lobby"]
    assert r["aGot"] == [] and r["bGot"] == []  # other rooms, and nobody hears themselves
    assert r["joinedA"] == {"room": "Cellar"}
    assert r["joinAnnounced"] == {"text": "ada has joined Cellar."}
    assert r["roomsAfter"] == ["Cellar"]


@pytest.mark.node
async def test_node_and_python_clients_share_a_room(
    jupyter: Jupyter, chat_client: ChatFactory
) -> None:
    python = await chat_client()
    assert await python.rename("py") == {"success": True, "name": "py"}
    await python.join("Mixed")
    async with NodeClient(
        "chatPeer", jupyter, name="js", room="Mixed", expect=1, say="hello from node"
    ) as node:
        await node.wait_line("READY")
        assert await python.heard() == "js has joined Mixed."
        await python.say("Mixed", "hello from python")
        assert await python.heard() == "js: hello from node"
        result = await node.result()
    assert result["renamed"] == {"success": True, "name": "js"}
    assert result["got"] == ["py: hello from python"]
    assert await python.heard() == "js has left Mixed."
