"""The engine's timers run on the server's clock: a test's ManualClock fires them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_rt.testing import InProcessServer


@pytest.fixture
def rt_server_options(rt_clock: Any) -> dict[str, Any]:
    return {"clock": rt_clock, "connect_timeout": 45}


async def test_the_connect_timeout_fires_on_the_manual_clock(
    rt_server: InProcessServer, rt_clock: Any
) -> None:
    # A polling session that never joins a namespace is closed at the connect timeout, on the
    # test's clock: no real waiting.
    http = AsyncHTTPClient()
    base = f"{rt_server.url}/socket.io/?EIO=4&transport=polling"
    opened = await http.fetch(base)
    sid = json.loads(opened.body.decode()[1:])["sid"]
    noop = {"method": "POST", "body": "6"}
    rt_clock.advance(44.9)
    assert (await http.fetch(f"{base}&sid={sid}", **noop)).body == b"ok"
    rt_clock.advance(0.2)
    with pytest.raises(HTTPClientError) as refused:
        await http.fetch(f"{base}&sid={sid}", **noop)
    assert refused.value.code == 400
