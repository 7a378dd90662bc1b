"""Helpers for the Redis cluster tests: server processes and recording clients."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import socketio

from tests import serve
from tests.helpers import REPO, Process, free_port, node_env

HERE = Path(__file__).resolve().parent
NODE_SERVER = HERE / "cluster_server.cjs"


def unique_prefix() -> str:
    """A channel prefix of its own, so tests sharing one redis-server never see each other."""
    return f"t{uuid.uuid4().hex[:10]}"


class ClusterServer:
    """A cluster server process (``cluster_app.py`` or ``cluster_server.cjs``) on a free port."""

    def __init__(
        self,
        spawn: Callable[..., Process],
        redis_url: str,
        name: str,
        *,
        prefix: str,
        kind: str = "python",
        request_timeout: float = 2.0,
        specific_response_channel: bool = False,
        adapter: str = "pubsub",
        recovery: bool = False,
        ping: float = 0,
    ) -> None:
        self.name = name
        self.kind = kind
        self.port = free_port()
        self.redis_url = redis_url
        if kind == "python":
            env = serve.server_env()
            argv: list[Any] = serve.command("tests.adapters.redis.cluster_app", self.port)
            argv += ["--log-level", "INFO"]
        else:
            env = node_env()
            argv = ["node", NODE_SERVER, "--port", self.port]
        argv += [
            "--redis",
            redis_url,
            "--name",
            name,
            "--prefix",
            prefix,
            "--request-timeout",
            request_timeout,
            "--specific-response-channel",
            "yes" if specific_response_channel else "no",
            "--adapter",
            adapter,
            "--recovery",
            "yes" if recovery else "no",
            "--ping",
            ping,
        ]
        argv = [str(a) for a in argv]
        self.process = spawn(argv, name=f"{kind}-{name}", cwd=REPO, env=env)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def ready(self, timeout: float = 30) -> ClusterServer:
        await self.process.await_output(r"(?m)^READY$", timeout)
        return self

    def output(self) -> str:
        return self.process.output()


class Peer:
    """A python-socketio client that records every event it gets and answers ``answer`` acks."""

    def __init__(self, server: ClusterServer, label: str | None = None) -> None:
        self.server = server
        self.label = label or server.name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, str, list[Any]]] = []
        self._changed = asyncio.Event()
        self.disconnected: dict[str, str] = {}
        self.sio.on("*", self._on_any, namespace="*")

        self.sio.on("disconnect", self._on_disconnect, namespace="*")

    def _on_disconnect(self, namespace: str, reason: Any = None) -> None:
        self.disconnected[namespace] = str(reason)
        self._changed.set()

    async def _on_any(self, event: str, namespace: str, *args: Any) -> Any:
        self.events.append((namespace, event, list(args)))
        self._changed.set()
        if event == "answer":
            return {"from": self.label, "args": list(args)}
        if event == "slow":
            await asyncio.sleep(30)
        return None

    async def connect(
        self, *namespaces: str, headers: dict[str, str] | None = None, query: str = ""
    ) -> Peer:
        await self.sio.connect(
            self.server.url + query,
            headers=headers or {},
            transports=["websocket"],
            namespaces=list(namespaces or ("/",)),
            wait_timeout=10,
        )
        return self

    def sid(self, nsp: str = "/") -> str:
        sid = self.sio.get_sid(nsp)
        assert sid is not None
        return sid

    async def ask(self, event: str, data: Any = None, nsp: str = "/", timeout: float = 15) -> Any:
        return await self.sio.call(event, data, namespace=nsp, timeout=timeout)

    def got(self, event: str, nsp: str = "/") -> list[list[Any]]:
        return [args for n, e, args in self.events if e == event and n == nsp]

    async def wait_for(
        self, event: str, count: int = 1, nsp: str = "/", timeout: float = 10
    ) -> list[list[Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.got(event, nsp)) < count:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"{self.label}: {len(self.got(event, nsp))} of {count} {event!r} events; "
                    f"got {self.events[-10:]}"
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.got(event, nsp)

    async def wait_disconnected(self, nsp: str = "/", timeout: float = 10) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while nsp not in self.disconnected:
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.label} was not disconnected from {nsp}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.disconnected[nsp]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def answer_is(
    probe: Callable[[], Awaitable[Any]], accept: Callable[[Any], bool]
) -> Callable[[], Awaitable[bool]]:
    """A :func:`~jupyter_rt.testing.wait_until` predicate: ``accept(await probe())``."""

    async def check() -> bool:
        return accept(await probe())

    return check


def rooms_of(peer: Peer) -> Callable[[], Awaitable[Any]]:
    """A probe: the peer's socket rooms, as its server reports them."""
    return lambda: peer.ask("join", [])


def log_of(peer: Peer) -> Callable[[], Awaitable[Any]]:
    """A probe: what server-side handlers received on the peer's server."""
    return lambda: peer.ask("server-side-log")


async def settle(seconds: float = 0.3) -> None:
    """Give Redis pub/sub a moment to deliver (for asserting that something did NOT arrive)."""
    await asyncio.sleep(seconds)
