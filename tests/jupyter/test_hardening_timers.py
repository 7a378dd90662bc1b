"""Issue 8, timers that fire on their own, against a real Jupyter server (in process): polling
handshakes that never send the Socket.IO CONNECT are forgotten at the connect timeout by the
engine's timer alone, with no further request, and leave no server-side structure behind."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.jupyter.support import Jupyter

pytestmark = pytest.mark.timeout(60)

CONNECT_TIMEOUT = 3.0
SESSIONS = 200
SLACK = 1.5
"""How late after the connect timeout every session must be gone (timer and loop latency)."""


@pytest.mark.parametrize("rt_config", [{"connect_timeout": CONNECT_TIMEOUT}], indirect=True)
async def test_silent_polling_handshakes_are_refused_soon_after_the_connect_timeout(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_rt"]
    engine, io = app.driver.engine, app.io
    loop = asyncio.get_running_loop()
    start = loop.time()
    sids = await asyncio.gather(
        *(jupyter.open_polling(jupyter.auth_header) for _ in range(SESSIONS))
    )
    opened = loop.time()
    assert opened - start < CONNECT_TIMEOUT, "opening the sessions took longer than the timeout"
    assert len(set(sids)) == SESSIONS
    assert len(engine.sessions) == SESSIONS and len(io._clients) == SESSIONS
    # From here on no request reaches the server until every session is gone.
    while engine.sessions or io._clients:
        assert loop.time() < opened + CONNECT_TIMEOUT + SLACK, (
            f"{len(engine.sessions)} sessions left"
        )
        await asyncio.sleep(0.02)
    assert loop.time() >= start + CONNECT_TIMEOUT
    assert engine.next_deadline() is None
    assert len(engine._timers) <= 33  # stale entries only, swept in bulk
    responses = await asyncio.gather(*(jupyter.poll(jupyter.auth_header, sid=s) for s in sids))
    unknown = (400, b'{"code":1,"message":"Session ID unknown"}')
    assert {(r.code, r.body) for r in responses} == {unknown}
