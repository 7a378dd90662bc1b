"""A canary client: measures how long a real Jupyter server's event loop makes its clients wait.

It runs beside an attack (or any load) and does one acknowledged echo every ``interval`` on the
built-in ``/hub`` app (``rooms``, answered by the server itself), over a WebSocket, recording each
round trip. Tests assert on :meth:`Canary.max_rtt` over the attack's time window::

    async with Canary(server.url, server.token) as canary:
        worst, served = await canary.during(attack, seconds=1.5)  # attack(): blocking, repeated
    assert served >= 3 and worst < 0.050

A round trip still waiting when the window ends counts with the time waited so far, so a
stalled server cannot hide behind an echo that never comes back. Run the attack off this
process's event loop (a thread or a subprocess): the canary measures the loop it shares with
nothing but its own client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import socketio


@dataclass(frozen=True)
class Sample:
    """One echo: when it was sent (``loop.time()``) and its round trip in seconds."""

    sent: float
    rtt: float


class Canary:
    """A python-socketio client on ``/hub`` of the Jupyter server at ``url`` (with its base
    URL), echoing every ``interval`` seconds; use as an async context manager."""

    def __init__(
        self, url: str, token: str, *, path: str | None = None, interval: float = 0.2
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.path = path
        self.interval = interval
        self.samples: list[Sample] = []
        self._in_flight: float | None = None
        self._sio = socketio.AsyncClient(reconnection=False)
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def now() -> float:
        """The clock of :attr:`samples`."""
        return asyncio.get_running_loop().time()

    async def __aenter__(self) -> Canary:
        origin, _, base = self.url.partition("//")[2].partition("/")
        path = self.path or ("/" + base + "/socket.io" if base else "/socket.io")
        await self._sio.connect(
            f"http://{origin}?token={self.token}",
            socketio_path=path.replace("//", "/"),
            namespaces=["/hub"],
            transports=["websocket"],
            wait_timeout=10,
        )
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._sio.disconnect()

    async def _run(self) -> None:
        while True:
            sent = self.now()
            self._in_flight = sent
            reply = await self._sio.call("rooms", namespace="/hub", timeout=30)
            self._in_flight = None
            assert isinstance(reply, dict) and reply.get("ok"), reply
            self.samples.append(Sample(sent, self.now() - sent))
            await asyncio.sleep(max(0.0, sent + self.interval - self.now()))

    async def warm_up(self, echoes: int = 3) -> None:
        """Wait for ``echoes`` round trips (the first ones pay for imports and caches)."""
        target = len(self.samples) + echoes
        while len(self.samples) < target:
            await asyncio.sleep(self.interval / 4)

    def rtts(self, start: float, end: float) -> list[float]:
        """Round trips of the echoes sent in ``[start, end]``, with the one still in flight
        counted as its time so far."""
        found = [s.rtt for s in self.samples if start <= s.sent <= end]
        if self._in_flight is not None and self._in_flight <= end:
            found.append(self.now() - max(self._in_flight, start))
        return found

    def served(self, start: float, end: float) -> int:
        """How many echoes sent in ``[start, end]`` came back."""
        return sum(1 for s in self.samples if start <= s.sent <= end)

    def max_rtt(self, start: float, end: float) -> float:
        """The longest round trip in ``[start, end]`` (0 if none)."""
        return max(self.rtts(start, end), default=0.0)

    async def during(
        self, attack: Callable[[], object], *, seconds: float = 1.5
    ) -> tuple[float, int]:
        """Run the blocking ``attack()`` over and over in a thread for ``seconds`` at least,
        after a warm-up; return the longest round trip meanwhile and how many echoes came back.
        """
        await self.warm_up()

        def repeat() -> None:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                attack()

        start = self.now()
        await asyncio.to_thread(repeat)
        end = self.now()
        return self.max_rtt(start, end), self.served(start, end)
