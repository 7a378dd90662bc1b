"""The Redis figures in a real Jupyter server's ``/metrics`` (``c.RealtimeApp.redis_url``): the
link's state and the messages it could not publish, through an outage of a real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_rt.testing import wait_until
from tests.adapters.redis.fixtures import own_redis
from tests.helpers import RedisServer
from tests.jupyter.support import STEP, Jupyter, sio_client
from tests.metrics.metrics_app import NAMESPACE
from tests.metrics.support import APP, ROOM, Scrape, scrape

__all__ = ["own_redis"]

pytestmark = [pytest.mark.jupyter, pytest.mark.redis, pytest.mark.timeout(60)]

UP = "jupyter_rt_redis_up"
ERRORS = "jupyter_rt_redis_publish_errors_total"


@pytest.fixture
def rt_config(own_redis: RedisServer) -> dict[str, Any]:
    return {**APP, "redis_url": own_redis.url}


async def test_redis_link_state_and_publish_errors(
    jupyter: Jupyter, own_redis: RedisServer
) -> None:
    shouted: asyncio.Queue[str] = asyncio.Queue()
    async with sio_client(jupyter, [NAMESPACE], ["websocket"]) as client:
        client.on("shouted", shouted.put_nowait, namespace=NAMESPACE)
        assert await client.call("join", ROOM, namespace=NAMESPACE, timeout=STEP) is True

        async def shout_and_scrape() -> Scrape:
            """One broadcast (published to Redis, and delivered here), then a scrape."""
            await client.call("shout", (ROOM, "hi"), namespace=NAMESPACE, timeout=STEP)
            assert await asyncio.wait_for(shouted.get(), STEP) == "hi"
            return await scrape(jupyter, jupyter.auth_header)

        steady = await shout_and_scrape()
        assert steady.value(UP) == 1
        assert steady.value(ERRORS) == 0

        own_redis.stop()

        async def outage_seen() -> Scrape | None:
            scraped = await shout_and_scrape()  # local sockets are still served
            errors = scraped.value(ERRORS)
            return scraped if scraped.value(UP) == 0 and errors and errors >= 1 else None

        during = await wait_until(outage_seen, 20, 0.05, "redis_up 0 and a publish error")
        dropped = during.value(ERRORS)

        own_redis.start()

        async def back() -> Scrape | None:
            scraped = await shout_and_scrape()
            return scraped if scraped.value(UP) == 1 else None

        after = await wait_until(back, 20, 0.05, "redis_up back to 1")
        errors = after.value(ERRORS)
        assert dropped is not None and errors is not None and errors >= dropped
        assert own_redis.url not in after.text
