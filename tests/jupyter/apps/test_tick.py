"""``jupyter_rt.apps.tick`` end to end, with both official clients passing the token."""

from __future__ import annotations

import asyncio

import pytest
import socketio

from tests.jupyter.support import Inbox, Jupyter, LogRecords, run_client, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.interop, pytest.mark.timeout(60)]

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


async def answer_ticks(sio: socketio.AsyncClient, inbox: Inbox, count: int) -> list[int]:
    seen = []
    for _ in range(count):
        message = await inbox.next("tickEvent")
        seen.append(message["tick"])
        await sio.emit("tickReceivedEvent", message, namespace="/tick")
    return seen


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_python_client_ticks(jupyter: Jupyter, rt_log: LogRecords, transport: str) -> None:
    inbox = Inbox()
    async with sio_client(
        jupyter, ["/tick"], TRANSPORTS[transport], setup=inbox.listener("/tick", "tickEvent")
    ) as sio:
        socket_id = sio.get_sid("/tick")
        assert await answer_ticks(sio, inbox, 3) == [0, 1, 2]
        logged = await rt_log.wait_for(rf"^Socket {socket_id} got \d+$", 3)
        assert logged == [f"Socket {socket_id} got {n}" for n in range(3)]
        if transport != "polling":
            assert sio.transport() == "websocket"


async def test_each_connection_counts_from_zero(jupyter: Jupyter) -> None:
    first, second = Inbox(), Inbox()
    async with sio_client(jupyter, ["/tick"], setup=first.listener("/tick", "tickEvent")):
        assert (await first.next("tickEvent"))["tick"] == 0
        assert (await first.next("tickEvent"))["tick"] == 1
        async with sio_client(jupyter, ["/tick"], setup=second.listener("/tick", "tickEvent")):
            assert (await second.next("tickEvent"))["tick"] == 0


async def test_only_numbers_are_logged(jupyter: Jupyter, rt_log: LogRecords) -> None:
    """A client cannot write its own text (say, forged log lines) into the server's log."""
    async with sio_client(jupyter, ["/tick"]) as sio:
        socket_id = sio.get_sid("/tick")
        for bad in ({"tick": "7\n[I 12:00:00 ServerApp] forged"}, {"tick": True}, "7", {}):
            await sio.emit("tickReceivedEvent", bad, namespace="/tick")
        await sio.emit("tickReceivedEvent", {"tick": 7}, namespace="/tick")
        assert await rt_log.wait_for(rf"^Socket {socket_id} got") == [f"Socket {socket_id} got 7"]
    assert not rt_log.matching("forged")


def tick_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if getattr(t.get_coro(), "__qualname__", "") == "_tick"]


async def test_ticks_stop_at_disconnect(jupyter: Jupyter) -> None:
    inbox = Inbox()
    async with sio_client(jupyter, ["/tick"], setup=inbox.listener("/tick", "tickEvent")):
        await inbox.next("tickEvent")
        assert len(tick_tasks()) == 1
    await asyncio.sleep(1.2)
    assert not tick_tasks(), "a tick task outlived its socket"


@pytest.mark.node
@pytest.mark.parametrize(
    ("transport", "auth"),
    [
        ("polling", "query"),
        ("websocket", "query"),
        ("upgrade", "query"),
        ("polling", "header"),
        ("upgrade", "header"),
    ],
)
async def test_node_client_ticks(
    jupyter: Jupyter, rt_log: LogRecords, transport: str, auth: str
) -> None:
    result = await run_client("tick", jupyter, transport=transport, auth=auth)
    assert result["ticks"] == [0, 1, 2]
    assert result["transport"] == ("polling" if transport == "polling" else "websocket")
    socket_id = result["id"]
    logged = await rt_log.wait_for(rf"^Socket {socket_id} got \d+$", 3)
    assert logged == [f"Socket {socket_id} got {n}" for n in range(3)]


@pytest.mark.node
@pytest.mark.parametrize("transport", ["polling", "upgrade"])
async def test_node_client_with_the_login_cookie(
    jupyter: Jupyter, rt_log: LogRecords, transport: str
) -> None:
    """As a page served by Jupyter: the login cookie, and the XSRF header for polling POSTs."""
    login = await jupyter.login()
    headers = {**login.header(), "X-XSRFToken": login.xsrf}
    result = await run_client("tick", jupyter, transport=transport, auth="cookie", headers=headers)
    assert result["ticks"] == [0, 1, 2]
    await rt_log.wait_for(rf"^Socket {result['id']} got 2$")

    with pytest.raises(AssertionError, match="connect_error"):
        await run_client(
            "tick", jupyter, transport="polling", auth="cookie", headers=login.header()
        )
