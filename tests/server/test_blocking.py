"""Handlers that hold the event loop are named in the log; ``thread=True`` keeps them off it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.server import Server, Socket
from tests.server.fakes import FakeSession, connected, settle

NAP = 0.06


@pytest.fixture
def io(clock: ManualClock) -> Server:
    return Server(connect_timeout=5, slow_handler_threshold=NAP / 2, clock=clock)


def slow_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "blocked the event loop" in r.getMessage()
    ]


async def test_a_blocking_sync_handler_is_named_once_per_event(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client, "/work")

    @socket.on("report")
    def report() -> str:
        time.sleep(NAP)
        return "done"

    socket.on("fast", lambda: "quick")
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session.receive('2/work,1["report"]', '2/work,2["report"]', '2/work,3["fast"]')
    assert session.texts() == ['3/work,1["done"]', '3/work,2["done"]', '3/work,3["quick"]']
    [line] = slow_lines(caplog)
    assert "tests.server.test_blocking." in line and ".report" in line
    assert "namespace /work, event report" in line and "thread=True" in line

    clock.advance(60)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session.receive('2/work,4["report"]')
    assert len(slow_lines(caplog)) == 1


async def test_blocking_steps_of_async_handlers_and_connection_code_are_named(
    io: Server, client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    nsp = io.of("/steps")

    @nsp.use
    async def slow_guard(socket: Socket) -> None:
        await asyncio.sleep(0)
        time.sleep(NAP)

    @nsp.on("connection")
    def slow_welcome(socket: Socket) -> None:
        time.sleep(NAP)

        @socket.on("crunch")
        async def crunch(n: int) -> int:
            await asyncio.sleep(0)
            time.sleep(NAP)  # a step of the coroutine that blocks
            await asyncio.sleep(0)
            return n * 2

    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session = client()
        session.receive("0/steps,")
        await settle()
        session.clear()
        session.receive('2/steps,7["crunch",21]')
        await settle()
    assert session.texts() == ["3/steps,7[42]"]
    lines = slow_lines(caplog)
    assert len(lines) == 3
    assert any("Middleware" in m and "slow_guard" in m and "event middleware" in m for m in lines)
    assert any("slow_welcome" in m and "event connection" in m for m in lines)
    assert any("crunch" in m and "namespace /steps, event crunch" in m for m in lines)


async def test_the_threshold_can_be_turned_off(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    io = Server(slow_handler_threshold=0)
    session = FakeSession(io).open()
    io.on("connection", lambda socket: socket.on("nap", lambda: time.sleep(NAP)))
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session.connect()
        session.receive('21["nap"]')
    assert session.texts()[-1] == "31[]" and slow_lines(caplog) == []


async def test_a_thread_handler_runs_off_the_loop_and_its_result_is_the_ack(
    io: Server, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    session, socket = connected(io, client)
    loop = asyncio.get_running_loop()
    threads: list[int] = []

    @socket.on("report", thread=True)
    def report(name: str) -> dict[str, Any]:
        threads.append(threading.get_ident())
        time.sleep(NAP)
        loop.call_soon_threadsafe(socket.emit, "progress", 100)  # emits go through the loop
        return {"ok": True, "report": name}

    @socket.on("job", thread=True)
    def job(*, ack: Any) -> None:
        ack("accepted")  # from the thread: sent by the loop
        time.sleep(NAP)

    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        session.receive('21["report","q3"]', '22["job"]')
        assert session.texts() == []  # nothing waited for the threads
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(session.texts()) == 3:
                break
    assert sorted(session.texts()) == sorted(
        ['31[{"ok":true,"report":"q3"}]', '32["accepted"]', '2["progress",100]']
    )
    assert threads and threads[0] != threading.get_ident()
    assert slow_lines(caplog) == []


async def test_a_thread_handler_can_be_removed_and_its_errors_are_acked(
    io: Server, client: Any
) -> None:
    session, socket = connected(io, client)

    def boom() -> None:
        raise RuntimeError("in the thread")

    def gone() -> str:
        return "still here"

    socket.on("boom", boom, thread=True)
    socket.on("gone", gone, thread=True)
    socket.off("gone", gone)
    session.receive('21["boom"]', '22["gone"]')
    for _ in range(200):
        await asyncio.sleep(0.01)
        if session.texts():
            break
    assert session.texts() == ['31[{"ok":false,"error":"Internal server error"}]']
