"""``c.RealtimeApp.redis_url``: the extension's rooms are shared through Redis (``redis_adapter``:
pub/sub, or Streams)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio

from jupyter_rt.adapters.redis import Emitter, RedisAdapter, RedisStreamsAdapter
from jupyter_rt.testing import wait_until
from tests.helpers import RedisServer
from tests.jupyter.support import STEP, Inbox, Jupyter, sio_client

pytestmark = [pytest.mark.jupyter, pytest.mark.redis, pytest.mark.timeout(60)]


@pytest.fixture
def rt_config(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, Any]:
    return {"redis_url": redis_server.url, **getattr(request, "param", {})}


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
            async def reached() -> bool:
                return await emitter.to("lab").emit("news", {"from": "redis"}) >= 1

            await wait_until(reached, STEP, 0.1, "a subscriber")
            assert await inbox.next("news") == {"from": "redis"}

            await app.stop_extension()

            async def unsubscribed() -> bool:
                return await emitter.to("lab").emit("news", "after stop") == 0

            await wait_until(unsubscribed, STEP, 0.1, "the server to unsubscribe")
        finally:
            await emitter.aclose()


STREAMS = {"redis_adapter": "streams", "connection_state_recovery": True}


@pytest.mark.parametrize("rt_config", [STREAMS], indirect=True)
async def test_redis_adapter_streams_broadcasts_through_the_stream(
    jupyter: Jupyter, jp_serverapp: Any, redis_server: RedisServer
) -> None:
    app = realtime_app(jp_serverapp)
    adapter = app.io.of("/hub").adapter
    assert isinstance(adapter, RedisStreamsAdapter)
    assert adapter.stream == "socket.io" and adapter.channel == "socket.io#/hub#"
    inbox = Inbox()
    async with sio_client(jupyter, ["/hub"], setup=inbox.listener("/hub", "news")) as sio:
        assert (await sio.call("join", "lab", namespace="/hub", timeout=STEP))["ok"]
        app.io.of("/hub").to("lab").emit("news", {"from": "stream"})
        data, offset = await inbox.next("news")
        assert data == {"from": "stream"}
        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            assert [entry_id.decode() for entry_id, _ in await client.xrange("socket.io")][-1] == (
                offset
            )
        finally:
            await client.aclose()
