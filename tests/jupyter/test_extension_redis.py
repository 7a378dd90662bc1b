"""``c.RealtimeApp.redis_url``: the extension's rooms are shared through Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_rt.adapters.redis import Emitter, RedisAdapter
from tests.helpers import RedisServer
from tests.jupyter.support import STEP, Inbox, Jupyter, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.redis, pytest.mark.timeout(60)]


@pytest.fixture
def rt_config(redis_server: RedisServer) -> dict[str, Any]:
    return {"redis_url": redis_server.url}


def realtime_app(serverapp: Any) -> Any:
    (app,) = serverapp.extension_manager.extension_apps["jupyter_rt"]
    return app


async def test_redis_url_shares_rooms_and_closes_at_stop(
    jupyter: Jupyter, jp_serverapp: Any, redis_server: RedisServer
) -> None:
    app = realtime_app(jp_serverapp)
    assert isinstance(app.io.of("/hub").adapter, RedisAdapter)
    inbox = Inbox()
    async with sio_client(jupyter, ["/hub"], setup=inbox.listener("/hub", "news")) as sio:
        assert (await sio.call("join", "lab", namespace="/hub", timeout=STEP))["ok"]
        emitter = Emitter(redis_server.url).of("/hub")
        try:
            # Another process publishes to the room through Redis.
            deadline = asyncio.get_running_loop().time() + STEP
            while await emitter.to("lab").emit("news", {"from": "redis"}) < 1:
                assert asyncio.get_running_loop().time() < deadline, "nobody subscribed"
                await asyncio.sleep(0.1)
            assert await inbox.next("news") == {"from": "redis"}

            await app.stop_extension()
            deadline = asyncio.get_running_loop().time() + STEP
            while await emitter.to("lab").emit("news", "after stop") > 0:
                assert asyncio.get_running_loop().time() < deadline, "still subscribed"
                await asyncio.sleep(0.1)
        finally:
            await emitter.aclose()
