"""Issue 8, timers that fire on their own: the EngineDriver's one timer runs a deadline set by
server code outside any request (the engine tells the driver when its next deadline moves
earlier); and what a session's handshake holds."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_rt.testing import wait_until
from tests.transports.test_handler import start

pytestmark = pytest.mark.timeout(30)


async def test_a_deadline_set_outside_a_request_fires_with_no_request() -> None:
    server, stop = await start(ping_interval=5, ping_timeout=5)
    try:
        sid = await server.open_polling()
        driver = server.driver
        [session] = server.listener.opened
        loop = asyncio.get_running_loop()
        # Server code, later and in no request: the driver's timer is armed for the ping (5 s).
        await asyncio.sleep(0.05)
        set_at = loop.time()
        session.set_deadline(0.1, "forced close", now=driver.now())
        await wait_until(lambda: server.reasons(sid), timeout=2)
        assert loop.time() - set_at < 1  # not at the next ping, 5 s away
        assert server.reasons(sid) == ["forced close"]
        assert driver.engine.sessions == {}
        response = await server.get(sid)
        assert (response.code, response.body) == (400, b'{"code":1,"message":"Session ID unknown"}')
    finally:
        stop()


async def test_handshakes_share_header_strings_but_never_credentials() -> None:
    from jupyter_rt.transports import handler

    server, stop = await start(ping_interval=5, ping_timeout=5)
    try:
        secret = "token " + "s3cr3t" * 8
        headers = {"User-Agent": "agent/" + "x" * 100, "Authorization": secret}
        await server.open_polling(headers=headers)
        await server.open_polling(headers=headers)
        first, second = (s.handshake.headers for s in server.listener.opened)
        assert first == second and first["authorization"] == secret
        assert first["user-agent"] is second["user-agent"]
        assert all(a is b for a, b in zip(first, second, strict=True))  # names too
        assert secret not in handler._shared_strings
    finally:
        stop()
