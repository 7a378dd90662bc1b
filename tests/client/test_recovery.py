"""``jupyter_rt.client`` recovering across a cluster: two Jupyter servers with
``c.RealtimeApp.redis_adapter = "streams"`` and recovery on, one redis-server, the client given
both urls. It loses server A and comes back to B with its socket id, rooms, data and what it
missed; then Redis restarts (empty: no persistence) while it is away, and it comes back to a
fresh session of its own, not an error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt.client import AsyncClient
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.testing import JupyterServer, wait_until
from tests.adapters.redis.fixtures import own_redis
from tests.adapters.redis.support import unique_prefix
from tests.helpers import Process, RedisServer, jupyter_server

pytestmark = [pytest.mark.redis, pytest.mark.jupyter, pytest.mark.slow]

__all__ = ["own_redis"]  # the fixture

STEP = 10.0
BACK = r"Redis at \S+ is back after"


class Gate:
    """A port in front of a server that the test opens and shuts, as a network would: shut,
    it cuts the connections through it and refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def open(self) -> Gate:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def shut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._links:
            writer.transport.abort()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        self.shut()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


class Heard:
    """Every event a client gets (``"*"``), and each ``connect`` with ``recovered``."""

    def __init__(self, client: AsyncClient) -> None:
        self.events: list[list[Any]] = []
        self.connects: list[bool] = []
        self.disconnects: list[str] = []
        self.refusals: list[ConnectionRefused] = []
        client.on("*", lambda event, *args: self.events.append([event, *args]))
        client.on("connect", lambda: self.connects.append(client.recovered))
        client.on("disconnect", self.disconnects.append)

        def on_error(error: Exception) -> None:
            if isinstance(error, ConnectionRefused):
                self.refusals.append(error)

        client.on("connect_error", on_error)

    def has(self, event: str, *args: Any) -> Callable[[], bool]:
        return lambda: [event, *args] in self.events


async def start_cluster(
    spawn: Callable[..., Process], tmp_path: Path, redis: RedisServer
) -> list[JupyterServer]:
    token = "shared-" + unique_prefix()  # one set of credentials on both servers
    traits = {
        "RealtimeApp.redis_url": redis.url,
        "RealtimeApp.redis_adapter": "streams",
        "RealtimeApp.redis_prefix": unique_prefix(),
        "RealtimeApp.connection_state_recovery": True,
        "RealtimeApp.ping_interval": 1,
        "RealtimeApp.ping_timeout": 1,
    }
    servers = [
        jupyter_server(
            spawn,
            tmp_path / name,
            apps=["tests.adapters.redis.cluster_app:setup"],
            traits=traits,
            env={"JRT_CLUSTER_NAME": name},
            token=token,
        ).launch()
        for name in ("A", "B")
    ]
    await asyncio.gather(*(asyncio.to_thread(s.wait_ready, 60) for s in servers))
    return servers


async def connect(client: AsyncClient, urls: list[str], server: JupyterServer) -> None:
    await client.connect(urls, path=server.path, token=server.token)


async def away_from(helper: AsyncClient, sid: str) -> None:
    """Wait until no server of the cluster has socket ``sid``: its session is written."""

    async def gone() -> bool:
        return await helper.call("fetch", {"rooms": [sid]}) == []

    await wait_until(gone, STEP, 0.05, f"socket {sid} to leave the cluster")


async def test_the_client_recovers_on_the_other_server_and_starts_afresh_after_redis_lost_all(
    own_redis: RedisServer, spawn: Callable[..., Process], tmp_path: Path
) -> None:
    a, b = await start_cluster(spawn, tmp_path, own_redis)
    helper_a, helper_b = AsyncClient(), AsyncClient()
    heard_a, heard_b = Heard(helper_a), Heard(helper_b)
    gate_a, gate_b = await Gate(a.port).open(), await Gate(b.port).open()
    client = AsyncClient(reconnection_delay=0.1, reconnection_delay_max=0.1, randomization_factor=0)
    heard = Heard(client)
    try:
        await connect(helper_a, [a.url], a)
        await connect(helper_b, [b.url], b)
        await connect(client, [gate_a.url, gate_b.url], a)
        sid = client.sid
        assert sid is not None and (await client.call("whoami"))["server"] == "A"
        await client.call("join", "news")
        await client.call("set-data", {"name": "ada"})
        await helper_a.call("emit-to", {"event": "seen", "args": ["before"]})
        await wait_until(heard.has("seen", "before"), STEP)

        # A is lost; B is not reachable yet either.
        gate_b.shut()
        gate_a.shut()
        await wait_until(lambda: heard.disconnects, STEP, message="the client to see A go")
        await away_from(helper_a, sid)
        await helper_a.call("emit-to", {"rooms": ["news"], "event": "missed", "args": [1]})
        await helper_a.call("emit-to", {"event": "sync", "args": [1]})
        await wait_until(heard_b.has("sync", 1), STEP)
        await helper_b.call("emit-to", {"event": "missed", "args": [2]})
        await wait_until(heard_a.has("missed", 2), STEP)
        await helper_a.call("emit-to", {"rooms": [sid], "event": "missed", "args": [3]})
        await helper_a.call("emit-to", {"event": "sync", "args": [2]})
        await wait_until(heard_b.has("sync", 2), STEP)
        assert not client.connected  # all of it was sent while the client was away

        await gate_b.open()  # B is back first: the client comes back there
        await wait_until(lambda: len(heard.connects) == 2, STEP, message="back on B")
        assert heard.connects == [False, True] and client.sid == sid
        whoami = await client.call("whoami")
        assert whoami["server"] == "B" and whoami["id"] == sid and whoami["recovered"]
        assert whoami["rooms"] == sorted([sid, "news"]) and whoami["data"] == {"name": "ada"}
        await helper_b.call("emit-to", {"event": "seen", "args": ["after"]})
        await wait_until(heard.has("seen", "after"), STEP)
        assert heard.events == [
            ["seen", "before"],
            ["missed", 1],
            ["sync", 1],
            ["missed", 2],
            ["missed", 3],
            ["sync", 2],
            ["seen", "after"],
        ]

        # B is lost, and Redis restarts meanwhile, empty: the session and the stream are gone.
        heard.events.clear()
        gate_b.shut()
        gate_a.shut()
        await wait_until(lambda: len(heard.disconnects) == 2, STEP)
        await away_from(helper_b, sid)
        await helper_b.call("emit-to", {"rooms": ["news"], "event": "missed", "args": [4]})
        await asyncio.to_thread(own_redis.crash)
        await asyncio.to_thread(own_redis.start)
        for server in (a, b):
            await server.process.await_output(BACK, 30)
        await helper_b.call("emit-to", {"rooms": ["news"], "event": "missed", "args": [5]})
        assert not client.connected

        await gate_a.open()
        await wait_until(lambda: len(heard.connects) == 3, STEP, message="back on A")
        assert heard.connects[-1] is False and client.sid not in (None, sid)
        whoami = await client.call("whoami")
        assert whoami["server"] == "A" and whoami["recovered"] is False
        assert whoami["rooms"] == [client.sid] and whoami["data"] == {}  # nobody else's
        await helper_b.call("emit-to", {"event": "seen", "args": ["after restart"]})
        await wait_until(heard.has("seen", "after restart"), STEP)
        assert heard.events == [["seen", "after restart"]]  # the missed ones are lost
        assert heard.refusals == []  # a fresh session, never an error
        for server in (a, b):
            assert "Traceback" not in server.process.output()
    finally:
        for each in (client, helper_a, helper_b):
            await each.disconnect()
        await gate_a.close()
        await gate_b.close()
