"""Several handlers per event, the catch-all ``"*"`` and ``off``, against a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import AsyncClient, Client
from jupyter_rt.testing import InProcessServer, wait_until


def sockets_of(server: InProcessServer) -> list[jupyter_rt.Socket]:
    sockets: list[jupyter_rt.Socket] = []
    server.io.on("connection", sockets.append)
    server.io.of("/other").on("connection", sockets.append)
    return sockets


async def test_every_handler_runs_and_the_first_answers(rt_server: InProcessServer) -> None:
    sockets = sockets_of(rt_server)
    client = AsyncClient()
    order: list[Any] = []

    @client.on("add")
    def first(a: int, b: int) -> int:
        order.append("first")
        return a + b

    @client.on("add")
    async def second(a: int, b: int) -> str:
        await asyncio.sleep(0.01)
        order.append("second")
        return "not the ack"

    client.on("*", lambda event, *args: order.append(("*", event, *args)))
    await client.connect(rt_server.url)
    try:
        await wait_until(lambda: sockets)
        assert await sockets[0].call("add", 2, 3, timeout=5) == 5
        assert order == ["first", "second", ("*", "add", 2, 3)]
        order.clear()
        client.off("add", first)
        assert await sockets[0].call("add", 1, 1, timeout=5) == "not the ack"
        assert order == ["second", ("*", "add", 1, 1)]
    finally:
        await client.disconnect()


async def test_a_raising_handler_leaves_the_ack_to_the_next(rt_server: InProcessServer) -> None:
    sockets = sockets_of(rt_server)
    client = AsyncClient()

    def boom() -> None:
        raise RuntimeError("handler failure")

    client.on("ev", boom)
    client.on("ev", lambda: "from the second")
    client.on("lonely", boom)
    await client.connect(rt_server.url)
    try:
        await wait_until(lambda: sockets)
        assert await sockets[0].call("ev", timeout=5) == "from the second"
        with pytest.raises(jupyter_rt.AckTimeout):  # no handler returned: no ack
            await sockets[0].call("lonely", timeout=0.3)
    finally:
        await client.disconnect()


async def test_catch_all_gets_every_event_and_answers_those_with_no_handler(
    rt_server: InProcessServer,
) -> None:
    sockets = sockets_of(rt_server)
    client = AsyncClient()
    seen: list[Any] = []
    lifecycle: list[str] = []
    client.on("known", lambda x: seen.append(("known", x)))

    @client.on("*")
    async def everything(event: str, *args: Any) -> Any:
        seen.append(("*", event, *args))
        return {"caught": event}

    client.on("*", lambda event, *args: seen.append(("second *", event)))
    client.on("connect", lambda: lifecycle.append("connect 1"))
    client.on("connect", lambda: lifecycle.append("connect 2"))
    client.on("disconnect", lifecycle.append)
    client.on("*", lambda event, *args: seen.append(("other ns", event)), namespace="/other")
    await client.connect(rt_server.url, namespaces=["/", "/other"])
    try:
        await wait_until(lambda: len(sockets) == 2)
        main, other = sorted(sockets, key=lambda s: s.nsp.name)
        assert await main.call("unknown", 1, b"\x00", timeout=5) == {"caught": "unknown"}
        await main.emit("known", "k")
        await other.emit("elsewhere")
        await wait_until(lambda: len(seen) == 6)
        assert seen[:2] == [("*", "unknown", 1, b"\x00"), ("second *", "unknown")]
        assert seen[2:5] == [("known", "k"), ("*", "known", "k"), ("second *", "known")]
        assert seen[5] == ("other ns", "elsewhere")
        assert lifecycle == ["connect 1", "connect 2"]  # "*" does not get lifecycle events
        client.off("*")
        with pytest.raises(jupyter_rt.AckTimeout):
            await main.call("unknown", timeout=0.3)
    finally:
        await client.disconnect()
    assert lifecycle == ["connect 1", "connect 2", "io client disconnect"]


async def test_blocking_client_handlers_and_off(rt_server: InProcessServer) -> None:
    sockets = sockets_of(rt_server)
    seen: list[Any] = []
    client = Client()
    try:
        client.on("ev", lambda x: seen.append(("one", x)) or "one")
        client.on("ev", lambda x: seen.append(("two", x)))
        client.on("*", lambda event, *args: seen.append(("*", event)))
        await asyncio.to_thread(client.connect, rt_server.url)
        await wait_until(lambda: sockets)
        assert await sockets[0].call("ev", 1, timeout=5) == "one"
        client.off("ev")
        assert await sockets[0].call("ev", 2, timeout=5) is None  # "*" answered, with None
        assert seen == [("one", 1), ("two", 1), ("*", "ev"), ("*", "ev")]
    finally:
        await asyncio.to_thread(client.close)


def test_handlers_must_be_callable() -> None:
    client = AsyncClient()
    with pytest.raises(TypeError):
        client.on("ev", "not a function")  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        client.on("", print)
