"""A handler that blocks the Jupyter server's loop is named in its log; a thread one does not."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from tests.jupyter.support import STEP, Inbox, Jupyter, LogRecords, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.interop, pytest.mark.timeout(60)]

SLOW = "/slow"
APPS = {"apps": ["tests.jupyter.slow_app:setup"]}
NAP_HANDLER = "tests.jupyter.slow_app.setup.<locals>.on_connection.<locals>.nap"


def blocked(rt_log: LogRecords) -> list[logging.LogRecord]:
    return [
        r
        for r in rt_log.records
        if r.levelno >= logging.INFO and "blocked the event loop" in r.getMessage()
    ]


@pytest.mark.parametrize("rt_config", [APPS], indirect=True)
async def test_a_blocking_handler_is_named_once(jupyter: Jupyter, rt_log: LogRecords) -> None:
    async with sio_client(jupyter, [SLOW]) as sio:
        for _ in range(3):
            assert await sio.call("nap", namespace=SLOW, timeout=STEP) == "rested"
    [record] = blocked(rt_log)
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(f"Handler {NAP_HANDLER} (namespace /slow, event nap) blocked")
    assert "thread=True" in message


@pytest.mark.parametrize("rt_config", [{**APPS, "slow_handler_threshold": 0.2}], indirect=True)
async def test_the_threshold_is_a_traitlet(jupyter: Jupyter, rt_log: LogRecords) -> None:
    async with sio_client(jupyter, [SLOW]) as sio:
        assert await sio.call("nap", namespace=SLOW, timeout=STEP) == "rested"
        assert await sio.call("echo", 1, namespace=SLOW, timeout=STEP) == 1
    [record] = blocked(rt_log)
    assert "(threshold 200 ms)" in record.getMessage()


@pytest.mark.parametrize("rt_config", [APPS], indirect=True)
async def test_a_thread_handler_leaves_the_server_responsive(
    jupyter: Jupyter, rt_log: LogRecords
) -> None:
    inbox = Inbox()
    async with sio_client(jupyter, [SLOW], setup=inbox.listener(SLOW, "progress")) as sio:
        report = asyncio.ensure_future(sio.call("report", "q3", namespace=SLOW, timeout=STEP))
        await asyncio.sleep(0.05)
        rtts: list[float] = []
        while not report.done():  # a canary: echoes go on while the report runs
            start = time.perf_counter()
            assert await sio.call("echo", 1, namespace=SLOW, timeout=STEP) == 1
            rtts.append(time.perf_counter() - start)
            await asyncio.sleep(0.02)
        result: Any = await report
        assert result == {"ok": True, "report": "q3"}
        assert await inbox.next("progress") == 100
    assert len(rtts) >= 3 and max(rtts) < 0.2
    assert blocked(rt_log) == []
