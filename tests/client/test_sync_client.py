"""The thread-backed ``Client``: blocking calls while the calling thread is busy."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest

import jupyter_rt
from jupyter_rt.client import Client
from jupyter_rt.testing import InProcessServer, WaitTimeout, wait_until, wait_until_sync


def serve(io: jupyter_rt.Server, sockets: list[jupyter_rt.Socket]) -> None:
    @io.on("connection")
    def on_connection(socket: jupyter_rt.Socket) -> None:
        sockets.append(socket)

        @socket.on("echo")
        def echo(*args: Any) -> Any:
            return args

        @socket.on("silent")
        def silent(*, ack: Any) -> None:
            pass


async def test_blocking_client_in_a_busy_thread(server: InProcessServer) -> None:
    sockets: list[jupyter_rt.Socket] = []
    serve(server.io, sockets)
    results: dict[str, Any] = {}
    handler_threads: list[str] = []

    def scenario() -> None:
        with Client(connect_timeout=5) as client:

            @client.on("ping-me")
            def ping_me(n: int) -> int:
                handler_threads.append(threading.current_thread().name)
                client.emit("echo", n)  # does not block inside a handler
                return n * 10

            client.connect(server.url)
            results["sid"] = client.sid
            results["echo"] = client.call("echo", "a", b"b")
            time.sleep(2.0)  # busy: the client's own thread answers the pings
            results["still"] = client.connected and client.sid == results["sid"]
            with pytest.raises(jupyter_rt.AckTimeout):
                client.call("silent", timeout=0.2)
            replies: list[Any] = []
            client.emit("echo", 5, callback=lambda *a: replies.append(a))
            with contextlib.suppress(WaitTimeout):  # asserted below
                wait_until_sync(lambda: replies, 5, 0.02)
            results["callback"] = replies
            results["repr"] = repr(client)
        results["closed_repr"] = repr(client)

    thread = threading.Thread(target=scenario)
    thread.start()
    await wait_until(lambda: sockets, 10, 0.02, "the client's socket")
    assert await sockets[0].call("ping-me", 4, timeout=5) == 40
    await asyncio.to_thread(thread.join, 15)
    assert not thread.is_alive()
    assert results["echo"] == ("a", b"b")
    assert results["still"] is True
    assert results["callback"] == [(5,)]
    assert handler_threads == ["jupyter_rt-client"]
    assert "connected" in results["repr"] and "closed" in results["closed_repr"]


def test_closed_client_refuses_work() -> None:
    client = Client()
    client.close()
    client.close()  # idempotent
    with pytest.raises(RuntimeError):
        client.call("x")


async def test_blocking_client_options_retry_and_ack_timeout() -> None:
    sockets: list[jupyter_rt.Socket] = []
    server = InProcessServer(setup=lambda io: serve(io, sockets))  # not listening yet
    errors: list[Exception] = []

    def scenario() -> dict[str, Any]:
        with Client(ack_timeout=0.3, reconnection_delay=0.05) as client:
            client.on("connect_error", errors.append)
            client.connect(server.url, retry=True, transports=["polling"])
            started = time.monotonic()
            with pytest.raises(jupyter_rt.AckTimeout):
                client.call("silent")  # no timeout given: the client's ack_timeout
            waited = time.monotonic() - started
            return {
                "echo": client.call("echo", "late", timeout=5),
                "waited": waited,
                "transport": client.transport,
                "recovered": client.recovered,  # no recovery on this server
            }

    thread_result = asyncio.ensure_future(asyncio.to_thread(scenario))
    try:
        await wait_until(lambda: len(errors) >= 2, message="two failed attempts")
        server.start()
        results = await asyncio.wait_for(thread_result, 15)
    finally:
        await server.close()
    assert results["echo"] == "late" and 0.25 < results["waited"] < 2
    assert results["transport"] == "polling" and results["recovered"] is False
