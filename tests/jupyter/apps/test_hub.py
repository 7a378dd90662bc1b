"""``jupyter_rt.apps.hub`` end to end: client-driven rooms, every request acknowledged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import socketio

from tests.jupyter.support import STEP, Inbox, Jupyter, LogRecords, run_client, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.interop, pytest.mark.timeout(60)]

HUB = "/hub"
ROOM_ERROR = "a room name is a string of 1 to 64 printable characters"
EVENT_ERROR = "an event name is a string of 1 to 64 printable characters"


class HubClient:
    def __init__(self, sio: socketio.AsyncClient, inbox: Inbox) -> None:
        self.sio = sio
        self.inbox = inbox
        self.id = sio.get_sid(HUB)

    async def ask(self, event: str, *args: Any) -> Any:
        data = args[0] if len(args) == 1 else (args or None)
        return await self.sio.call(event, data, namespace=HUB, timeout=STEP)

    async def quiet(self, event: str) -> list[Any]:
        await asyncio.sleep(0.3)
        return self.inbox.pending(event)


@pytest.fixture
async def hub_client(jupyter: Jupyter) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def start(*events: str) -> HubClient:
            inbox = Inbox()
            sio = await stack.enter_async_context(
                sio_client(jupyter, [HUB], setup=inbox.listener(HUB, *events))
            )
            return HubClient(sio, inbox)

        yield start


async def test_join_publish_members_leave(hub_client: Callable[..., Any]) -> None:
    a = await hub_client("ping", "multi")
    b = await hub_client("ping", "multi")
    assert await a.ask("join", "room 1") == {"ok": True, "room": "room 1"}
    assert await b.ask("join", "room 1") == {"ok": True, "room": "room 1"}

    # To the others in the room, not the sender.
    assert await a.ask("publish", "room 1", "ping", {"n": 1}) == {"ok": True, "room": "room 1"}
    assert await b.inbox.next("ping") == {"n": 1}
    assert await a.quiet("ping") == []
    # The sender too, when asked.
    target = {"room": "room 1", "self": True}
    assert await a.ask("publish", target, "ping", {"n": 2}) == {"ok": True, "room": "room 1"}
    assert await a.inbox.next("ping") == {"n": 2}
    assert await b.inbox.next("ping") == {"n": 2}
    # Any number of arguments, binary included.
    assert (await a.ask("publish", "room 1", "multi", 1, "two", b"\x00\xff"))["ok"]
    assert await b.inbox.next("multi") == [1, "two", b"\x00\xff"]

    members = await a.ask("members", "room 1")
    assert members["ok"] is True and members["room"] == "room 1"
    assert {m["id"] for m in members["members"]} == {a.id, b.id}
    assert all(m["name"] for m in members["members"])

    rooms = await b.ask("rooms")
    assert rooms["ok"] is True
    assert rooms["rooms"]["/hub"] == {"room 1": 2}
    assert set(rooms["rooms"]) >= {"/", "/hub"}

    assert await b.ask("leave", "room 1") == {"ok": True, "room": "room 1"}
    await a.ask("publish", "room 1", "ping", {"n": 3})
    assert await b.quiet("ping") == []
    assert [m["id"] for m in (await a.ask("members", "room 1"))["members"]] == [a.id]
    assert (await a.ask("rooms"))["rooms"]["/hub"] == {"room 1": 1}
    assert await a.ask("members", "nobody here") == {
        "ok": True,
        "room": "nobody here",
        "members": [],
    }


async def test_rooms_are_per_client_and_left_on_disconnect(hub_client: Callable[..., Any]) -> None:
    a = await hub_client()
    b = await hub_client()
    await a.ask("join", "x")
    await b.ask("join", "y")
    assert (await a.ask("rooms"))["rooms"]["/hub"] == {"x": 1, "y": 1}
    await b.sio.disconnect()
    await asyncio.sleep(0.2)
    assert (await a.ask("rooms"))["rooms"]["/hub"] == {"x": 1}


@pytest.mark.parametrize(
    ("event", "args", "error"),
    [
        ("join", ("",), ROOM_ERROR),
        ("join", ("x" * 65,), ROOM_ERROR),
        ("join", (5,), ROOM_ERROR),
        ("join", ("line\nbreak",), ROOM_ERROR),
        ("join", (), ROOM_ERROR),
        ("leave", (None,), ROOM_ERROR),
        ("members", ({"room": "r"},), ROOM_ERROR),
        ("publish", ("r", ""), EVENT_ERROR),
        ("publish", ("r", 3), EVENT_ERROR),
        ("publish", ("r",), EVENT_ERROR),
        ("publish", ({"room": ""}, "ping"), ROOM_ERROR),
        ("publish", ("r", "disconnect"), "'disconnect' is a reserved event name"),
        ("publish", ("r", "connect_error"), "'connect_error' is a reserved event name"),
    ],
)
async def test_validation_errors(
    hub_client: Callable[..., Any], event: str, args: tuple[Any, ...], error: str
) -> None:
    a = await hub_client()
    assert await a.ask(event, *args) == {"ok": False, "error": error}
    assert await a.ask("join", "r") == {"ok": True, "room": "r"}  # still connected


async def test_socket_ids_are_not_rooms_to_join_or_leave(
    jupyter: Jupyter, hub_client: Callable[..., Any]
) -> None:
    """Joining another socket's own room would receive what is sent to that socket alone."""
    a = await hub_client()
    b = await hub_client("secret")
    refused = {"ok": False, "error": "a room name cannot be a socket id"}
    assert await a.ask("join", b.id) == refused
    assert await a.ask("leave", a.id) == refused
    # Addressing a socket directly still works, and only it receives.
    assert await a.ask("publish", b.id, "secret", 1) == {"ok": True, "room": b.id}
    assert await b.inbox.next("secret") == 1


async def test_joins_past_the_room_limit_are_answered_and_logged_once(
    hub_client: Callable[..., Any], rt_log: LogRecords
) -> None:
    """Past the server's 1000 rooms per socket, each join gets an error ack; the log gets one
    warning and no traceback (it used to get one ERROR traceback per join, and no ack)."""
    a = await hub_client()
    for start in range(0, 1000, 100):  # 1000 rooms, 100 joins in flight at a time
        replies = await asyncio.gather(*(a.ask("join", f"r{n}") for n in range(start, start + 100)))
        assert all(reply["ok"] for reply in replies)
    too_many = {"ok": False, "error": "a socket can be in at most 1000 rooms"}
    for n in range(30):
        assert await a.ask("join", f"extra {n}") == too_many
    assert await a.ask("join", "r7") == {"ok": True, "room": "r7"}  # already in it
    assert (await a.ask("leave", "r7"))["ok"]
    assert await a.ask("join", "extra 0") == {"ok": True, "room": "extra 0"}

    warnings = [r for r in rt_log.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings if "rooms" in r.getMessage()] == [
        "Limit hit in handler jupyter_rt.apps.hub.setup.<locals>.on_connection.<locals>.join "
        "(namespace /hub, event join): a socket can be in at most 1000 rooms; the request "
        "was refused"
    ]
    assert not [r for r in rt_log.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_members_are_named_after_their_jupyter_user(
    jupyter: Jupyter, hub_client: Callable[..., Any]
) -> None:
    login = await jupyter.login()
    display_name = (await jupyter.identity(login.header()))["display_name"]
    inbox = Inbox()
    async with sio_client(
        jupyter, [HUB], ["websocket"], headers=login.header(), token_in_url=False
    ) as sio:
        user = HubClient(sio, inbox)
        await user.ask("join", "named")
        members = (await user.ask("members", "named"))["members"]
    assert members == [{"id": user.id, "name": display_name}]


@pytest.mark.node
async def test_node_clients_use_the_hub(jupyter: Jupyter) -> None:
    r = await run_client("hub", jupyter, transport="upgrade", room="lab")
    ok = {"ok": True, "room": "lab"}
    assert r["joinA"] == r["joinB"] == r["publish"] == r["publishSelf"] == ok
    assert r["bGot"] == {"n": 1}
    assert r["aGot"] == r["bGot2"] == {"n": 2}
    assert r["aExtra"] == []
    assert {m["id"] for m in r["members"]["members"]} == {r["ids"]["a"], r["ids"]["b"]}
    assert r["rooms"]["rooms"]["/hub"] == {"lab": 2}
    assert r["bad"] == {"ok": False, "error": ROOM_ERROR}
