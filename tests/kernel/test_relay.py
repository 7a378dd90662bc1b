"""The Jupyter side of kernel hosting (``jupyter_rt.kernel.relay``) against a real server and
real kernels: who may host what, limits, freeing names (close, restart, shutdown, a kernel that
stops reading), the vacancy, and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt import ConnectionRefused
from jupyter_rt.adapters.redis import Emitter, RedisAdapter
from jupyter_rt.client import AsyncClient
from jupyter_rt.kernel import tunnel
from jupyter_rt.testing import InProcessServer, JupyterServer, wait_until
from tests.helpers import Process, RedisServer, start_jupyter_server
from tests.kernel.support import STEP, JsClients, Kernel, running_kernel

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(150)]

PING = """
from jupyter_rt.kernel import host

{var} = host("{name}")
{var}.on("connection", lambda socket: socket.on("ping", lambda: "{answer}"))
"""


def ping(name: str, answer: str = "pong", var: str = "ns") -> str:
    return PING.format(name=name, answer=answer, var=var)


StartServer = Callable[..., JupyterServer]


@pytest.fixture
def start_server(spawn: Callable[..., Process], tmp_path: Path) -> Iterator[StartServer]:
    """``start_server(**traits)``: a Jupyter server of this test with ``RealtimeApp`` settings."""
    count = 0

    def start(**traits: object) -> JupyterServer:
        nonlocal count
        count += 1
        settings = {f"RealtimeApp.{name}": value for name, value in traits.items()}
        return start_jupyter_server(spawn, tmp_path / f"server-{count}", traits=settings)

    yield start


@pytest.fixture
async def other_kernel(jupyter_server: JupyterServer) -> AsyncIterator[Kernel]:
    async with running_kernel(jupyter_server) as started:
        yield started


async def test_another_kernel_gets_a_clear_error(
    jupyter_server: JupyterServer, kernel: Kernel, other_kernel: Kernel
) -> None:
    await kernel.run(ping("/owned"))
    error = await other_kernel.run_failing(ping("/owned", "stolen"))
    assert "HostingError" in error
    assert f"cannot host /owned: /owned is served by kernel {kernel.id}" in error
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/owned")
        assert await js.call("ada", "ping") == ["pong"]


async def test_reserved_names_and_the_servers_own_apps_cannot_be_hosted(kernel: Kernel) -> None:
    await kernel.run(
        """
        from jupyter_rt import HostingError
        from jupyter_rt.kernel import host

        def attempt(name):
            try:
                host(name)
            except HostingError as exc:
                return str(exc)
            return "hosted"
        """
    )
    names = ["/chat", "/tick", "/hub", "/", tunnel.NAMESPACE, "/jupyter/x", "/admin", "/a b"]
    assert await kernel.value(f"[attempt(name) for name in {names!r}]") == [
        "cannot host /chat: /chat is served by the Jupyter server itself (a configured app)",
        "cannot host /tick: /tick is served by the Jupyter server itself (a configured app)",
        "cannot host /hub: /hub is served by the Jupyter server itself (a configured app)",
        "cannot host /: / is reserved",
        f"cannot host {tunnel.NAMESPACE}: {tunnel.NAMESPACE} is reserved",
        "cannot host /jupyter/x: /jupyter/x is reserved",
        "cannot host /admin: /admin is reserved",
        "cannot host /a b: a namespace name has no spaces, commas or control characters",
    ]


async def test_a_tunnel_needs_the_servers_token(jupyter_server: JupyterServer) -> None:
    client = AsyncClient(reconnection=False)
    for auth in ({}, {"token": "not-the-token"}):
        with pytest.raises(ConnectionRefused, match="needs the Jupyter server's token"):
            await client.connect(
                f"http://127.0.0.1:{jupyter_server.port}",
                path=jupyter_server.path,
                token=jupyter_server.token,  # Jupyter lets the request in; the tunnel does not
                namespaces=[tunnel.NAMESPACE],
                auth=auth,
            )
    await jupyter_server.process.await_output(
        r"Refused a kernel tunnel from 127\.0\.0\.1: it did not present the server's token", STEP
    )
    assert "not-the-token" not in jupyter_server.log()


async def test_malformed_tunnel_messages_are_dropped_and_logged(
    jupyter_server: JupyterServer,
) -> None:
    tunnel_client = AsyncClient(reconnection=False)
    await tunnel_client.connect(
        f"http://127.0.0.1:{jupyter_server.port}",
        path=jupyter_server.path,
        token=jupyter_server.token,
        namespaces=[tunnel.NAMESPACE],
        auth={"token": jupyter_server.token},
    )
    try:
        await tunnel_client.emit("send", 42)  # a session id is a string
        await tunnel_client.emit("batch", [["claim", "/x", "k"]])  # requests never come batched
        await tunnel_client.emit("add", "/x")
        answer = await tunnel_client.call("claim", "/by-hand", "hand-made-kernel")
        assert answer == {"ok": True}  # still served
        assert await tunnel_client.call("release", "/by-hand") is True
    finally:
        await tunnel_client.disconnect()
    await jupyter_server.process.await_output(
        r"Dropping a malformed tunnel message from kernel \(unnamed\): send: expected str", STEP
    )


async def test_a_restart_frees_the_name_and_its_clients_come_back(
    jupyter_server: JupyterServer, kernel: Kernel
) -> None:
    await kernel.run(ping("/restarting"))
    async with JsClients(jupyter_server) as js:
        first = await js.open("ada", "/restarting")
        start = js.mark()
        await kernel.restart()
        assert await js.disconnected("ada", start) == "transport close"
        await jupyter_server.process.await_output(
            r"/restarting is no longer hosted by kernel \S+ \(its kernel's connection closed", STEP
        )
        await kernel.run(ping("/restarting", "pong after the restart"))
        assert (await js.connected("ada", start))["sid"] != first["sid"]
        assert await js.call("ada", "ping") == ["pong after the restart"]


async def test_a_shutdown_frees_the_name_for_another_kernel(
    jupyter_server: JupyterServer, kernel: Kernel, other_kernel: Kernel
) -> None:
    await kernel.run(ping("/handover", "first kernel"))
    async with JsClients(jupyter_server) as js:
        await js.open("ada", "/handover")
        start = js.mark()
        await kernel.shutdown()
        assert await js.disconnected("ada", start) == "transport close"
        await other_kernel.run(ping("/handover", "second kernel"))
        await js.connected("ada", start)
        assert await js.call("ada", "ping") == ["second kernel"]


async def test_limits_per_kernel_and_on_the_server(start_server: StartServer) -> None:
    server = start_server(max_hosted_per_kernel=2, max_hosted_namespaces=3)
    async with running_kernel(server) as first, running_kernel(server) as second:
        await first.run(ping("/l1", var="l1") + ping("/l2", var="l2"))
        error = await first.run_failing(ping("/l3"))
        assert "cannot host /l3: a kernel may host at most 2 namespaces" in error
        await second.run(ping("/l3"))
        error = await second.run_failing(ping("/l4"))
        assert "cannot host /l4: at most 3 namespaces may be hosted on this server" in error
        async with JsClients(server) as js:
            for name in ("/l1", "/l2", "/l3"):
                await js.open(name, name)
                assert await js.call(name, "ping") == ["pong"]


async def test_waiting_clients_get_invalid_namespace_once_the_vacancy_ends(
    start_server: StartServer,
) -> None:
    server = start_server(hosted_vacancy=2)
    async with running_kernel(server) as kernel, JsClients(server) as js:
        await kernel.run(ping("/brief"))
        await js.open("ada", "/brief", reconnectionDelay=100, reconnectionDelayMax=200)
        start = js.mark()
        await kernel.run("ns.close()")
        assert await js.disconnected("ada", start) == "transport close"
        refused = await js.refused("ada", start)
        assert refused["message"] == "Invalid namespace"
        await server.process.await_output(r"/brief was not hosted again within 2\.0 s", STEP)


async def test_a_waiting_client_may_wait_longer_than_the_connect_timeout(
    start_server: StartServer,
) -> None:
    server = start_server(connect_timeout=1, hosted_vacancy=30)
    async with running_kernel(server) as kernel, JsClients(server) as js:
        await kernel.run(ping("/patient"))
        await js.open("ada", "/patient", transports=["polling"])
        start = js.mark()
        await kernel.run("ns.close()")
        await js.disconnected("ada", start)
        await asyncio.sleep(4)  # a new session, its CONNECT held past the connect timeout
        await kernel.run(ping("/patient", "worth the wait"))
        await js.connected("ada", start)
        assert await js.call("ada", "ping") == ["worth the wait"]
        disconnects = [m for m in js.seen[start:] if m["type"] == "disconnect"]
        assert len(disconnects) == 1


async def test_a_kernel_that_stops_reading_is_cut_off_and_its_clients_told(
    start_server: StartServer,
) -> None:
    server = start_server(max_buffered_bytes=200_000)
    async with running_kernel(server) as kernel, JsClients(server) as js:
        await kernel.run(
            """
            import time
            from jupyter_rt.kernel import host

            slow = host("/slow")

            @slow.on("connection")
            def on_connection(socket):
                socket.on("hold", lambda seconds: time.sleep(seconds))  # holds the hosting loop
                socket.on("data", lambda data: None)
                socket.on("ping", lambda: "pong")
            """
        )
        await js.open("ada", "/slow")
        await js.open("bob", "/slow")
        start = js.mark()
        js.emit("ada", "hold", 8)
        chunk = "x" * 200_000
        for _ in range(120):  # 24 MB: more than the sockets' buffers and the server's limit
            js.emit("ada", "data", chunk)
        assert await js.disconnected("bob", start, 20) == "transport close"
        await server.process.await_output(r"bytes wait to be sent, over the limit of 200000", STEP)
        await server.process.await_output(
            r"/slow is no longer hosted by kernel \S+ \(its kernel's connection closed: "
            r"transport error\): closing 2 client connection\(s\)",
            STEP,
        )
        # The kernel reads again after the hold: its tunnel comes back and claims /slow again.
        await js.connected("bob", js.mark(), 30)
        assert await js.call("bob", "ping") == ["pong"]


async def test_with_redis_an_emitter_reaches_the_hosted_namespaces_rooms(
    start_server: StartServer, redis_server: RedisServer
) -> None:
    server = start_server(redis_url=redis_server.url, redis_prefix="hosting-test")
    emitter = Emitter(redis_server.url, prefix="hosting-test").of("/poll")
    try:
        async with running_kernel(server) as kernel, JsClients(server) as js:
            await kernel.run(
                """
                from jupyter_rt.kernel import host

                poll = host("/poll")
                poll.on("connection", lambda socket: socket.join("voters"))
                """
            )
            await js.open("ada", "/poll")
            start = js.mark()

            async def delivered() -> bool:
                return await emitter.to("voters").emit("news", {"from": "redis"}) >= 1

            await wait_until(delivered, STEP, 0.2, "a subscriber of /poll")
            assert await js.event("ada", "news", start) == [{"from": "redis"}]
    finally:
        await emitter.aclose()


async def test_with_redis_the_hosted_namespace_spans_servers(
    start_server: StartServer, redis_server: RedisServer
) -> None:
    prefix = "hosting-cluster"
    server = start_server(redis_url=redis_server.url, redis_prefix=prefix)
    other = InProcessServer(adapter=RedisAdapter.factory(redis_server.url, prefix=prefix))
    poll_there = other.io.of("/poll")
    poll_there.on("connection", lambda socket: socket.join("voters"))
    poll_there.on("count", lambda: 7)  # answers server_side_call from the other servers
    other.start()
    await other.io.ready()
    try:
        async with running_kernel(server) as kernel, JsClients(server) as js:
            await kernel.run(
                """
                from jupyter_rt.kernel import host

                poll = host("/poll")
                heard = []
                poll.on("connection", lambda socket: socket.join("voters"))
                poll.on("hello", lambda *args: heard.append(list(args)))
                """
            )
            await js.open("ada", "/poll")
            there = await other.connect("/poll")
            got: list[Any] = []
            there.on("tally", got.append, namespace="/poll")
            start = js.mark()
            await poll_there.to("voters").emit("tally", {"from": "the other server"})
            assert await js.event("ada", "tally", start) == [{"from": "the other server"}]
            await kernel.run('poll.to("voters").emit("tally", {"from": "the kernel"})')
            await wait_until(lambda: {"from": "the kernel"} in got, STEP)
            kinds = await kernel.value(
                "sorted(type(s).__name__ for s in await poll.in_('voters').fetch_sockets())"
            )
            assert kinds == ["RemoteSocket", "Socket"]
            fetched = {s.id: s for s in await poll_there.fetch_sockets()}
            ada = await kernel.value("next(iter(poll.sockets))")
            assert "voters" in fetched[ada].rooms and fetched[ada].handshake.user
            await poll_there.server_side_emit("hello", 1)
            await wait_until(lambda: _heard(kernel), STEP, 0.2, "the kernel to hear hello")
            assert await kernel.value("await poll.server_side_call('count', timeout=5)") == [7]
    finally:
        await other.close()


async def _heard(kernel: Kernel) -> bool:
    return await kernel.value("heard") == [[1]]
