"""An Admin UI client for the tests: the official npm socket.io-client on ``/admin``, run by
``tests/node/admin_client.mjs`` in a subprocess, while the server runs in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from jupyter_rt.testing import wait_until
from tests.helpers import NODE_DIR, node_env, require_binary, require_node_packages

SCRIPT = NODE_DIR / "admin_client.mjs"


class AdminClient:
    """``await AdminClient(url).start()``: connected (or refused) once it returns.

    :attr:`events` holds every ``[name, *args]`` the server sent, in order; :meth:`next` waits
    for one; :meth:`emit` sends what the UI's buttons send.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self.lines: list[str] = []
        self.events: list[list[Any]] = []
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 15) -> AdminClient:
        require_node_packages("socket.io-client")
        self._process = await asyncio.create_subprocess_exec(
            require_binary("node"),
            str(SCRIPT),
            self.url,
            json.dumps(self.options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=NODE_DIR,
            env=node_env(),
        )
        self._reader = asyncio.ensure_future(self._read())
        await wait_until(
            lambda: any(line.startswith(("CONNECTED", "CONNECT_ERROR")) for line in self.lines),
            timeout,
            message=lambda: f"the admin client did not connect: {self.lines}",
        )
        return self

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for raw in self._process.stdout:
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if line.startswith("EVENT "):
                self.events.append(json.loads(line[6:]))

    @property
    def connected(self) -> bool:
        return any(line.startswith("CONNECTED") for line in self.lines)

    @property
    def refusal(self) -> str | None:
        """The CONNECT_ERROR message, if the server refused the client."""
        for line in self.lines:
            if line.startswith("CONNECT_ERROR "):
                return str(json.loads(line[len("CONNECT_ERROR ") :]))
        return None

    def named(self, name: str) -> list[list[Any]]:
        """The arguments of every ``name`` event so far."""
        return [event[1:] for event in self.events if event[0] == name]

    async def next(
        self,
        name: str,
        where: Callable[[list[Any]], bool] = lambda args: True,
        timeout: float = 10,
    ) -> list[Any]:
        """The arguments of the first ``name`` event (so far, or to come) that ``where`` likes."""

        def found() -> list[Any] | None:
            for args in self.named(name):
                if where(args):
                    return args
            return None

        result = await wait_until(
            found, timeout, message=lambda: f"no {name} event; got {self.events[-20:]}"
        )
        assert result is not None
        return result

    async def emit(self, *event: Any) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write((json.dumps(list(event)) + "\n").encode())
        await self._process.stdin.drain()

    async def close(self) -> None:
        process = self._process
        if process is None:
            return
        self._process = None
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2)
