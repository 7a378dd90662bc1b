"""The Redis connection of one server: ordered publishing and subscriptions that survive outages.

:class:`RedisLink` is plain pub/sub, shared by the adapters of one server's namespaces: it knows
channels and bytes, not Socket.IO. A writer task publishes queued messages in order (pipelined,
dropped while Redis is away), a reader task holds the subscriptions and hands each message to the
handler of its channel or pattern; both start over by themselves when Redis comes back. Outages
are logged once when they start and once when they end (see :mod:`jupyter_rt.adapters.redis`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.exceptions

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt._throttle import LogThrottle
from jupyter_rt.adapters.redis.wire import WireError
from jupyter_rt.errors import RedisUnavailable

__all__ = ["RedisLink", "where_of"]

log = logging.getLogger("jupyter_rt.redis")

_MAX_QUEUE = 10_000
"""Messages waiting to be published; past it (Redis slow or away) new ones are dropped."""
_MAX_BATCH = 256
_PROBE_INTERVAL = 0.5
"""While Redis is down, try publishing at most this often; messages between tries are dropped."""
_MAX_BACKOFF = 2.0


def where_of(url: str) -> str:
    """``host:port/db`` of a Redis URL, without credentials (for logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        return f"{host}:{parts.port or 6379}{parts.path or ''}"
    except ValueError:
        return "redis"


_closing = TaskKeeper()
"""Links closing after their last namespace closed."""


class RedisLink:
    """One server's connection to Redis, shared by its namespaces' adapters.

    A writer task publishes queued messages in order (pipelined); a reader task holds the
    subscriptions and dispatches messages; both survive Redis going away.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        sub_client: aioredis.Redis,
        *,
        owns_clients: bool,
        where: str,
        on_closed: Callable[[], None],
        health_check_interval: float = 10.0,
    ) -> None:
        self.client = client
        self.health_check_interval = health_check_interval
        self._sub_client = sub_client
        self._owns_clients = owns_clients
        self.where = where
        self._on_closed = on_closed
        self.channels: dict[str, Callable[[str, bytes], None]] = {}
        self.patterns: dict[str, Callable[[str, bytes], None]] = {}
        self.users = 0
        self.warner = LogThrottle(log)
        """Dropped channel messages: one warning a minute, saying how many were not logged."""
        self._queue: deque[tuple[str, bytes, asyncio.Future[int] | None]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self._subscribed: set[str] = set()
        self._psubscribed: set[str] = set()
        self._confirmed: set[str] = set()
        self._confirm_event: asyncio.Event | None = None
        self._sub_lock: asyncio.Lock | None = None
        self._closed = False
        self.down = False
        """Whether Redis is thought away (the last operation on it failed)."""
        self.publish_errors = 0
        """Messages (and stream writes) that could not be published since the start: Redis
        away, or too slow to take them."""
        self._down_since = 0.0
        self._dropped = 0
        self._next_probe = 0.0
        self._background = TaskKeeper()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the tasks if a loop runs (idempotent); ``False`` when none runs yet."""
        if self._reader is not None or self._closed:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._wakeup = asyncio.Event()
        self._confirm_event = asyncio.Event()
        self._sub_lock = asyncio.Lock()
        self._reader = loop.create_task(self._read_loop(), name="jupyter_rt redis reader")
        self._writer = loop.create_task(self._write_loop(), name="jupyter_rt redis writer")
        if self._queue:
            self._wakeup.set()
        return True

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`aclose` started."""
        return self._closed

    def close_soon(self) -> None:
        """:meth:`aclose` in the background (nothing to do when no loop runs any more)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop any more: nothing is running on the connections either
        _closing.spawn(self.aclose())

    async def aclose(self) -> None:
        """Stop the tasks and close the connections (pending publishes are dropped)."""
        if self._closed:
            return
        self._closed = True
        self._on_closed()
        tasks = [t for t in (self._reader, self._writer, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_queue(RedisUnavailable("the Redis adapter is closed"))
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if self._owns_clients:
            for client in (self.client, self._sub_client):
                with contextlib.suppress(Exception):
                    await client.aclose()

    # -- health -------------------------------------------------------------------------------

    def failed(self, what: str, exc: BaseException) -> None:
        """Something failed on Redis: log the outage once."""
        if self.down:
            log.debug("Redis %s failed again: %r", what, exc)
            return
        self.down = True
        self._down_since = time.monotonic()
        self._dropped = 0
        log.error(
            "Redis at %s is unreachable (%s failed: %s: %s); cross-server messages are dropped "
            "until it is back, local sockets are still served",
            self.where,
            what,
            type(exc).__name__,
            exc,
        )

    def recovered(self) -> None:
        if not self.down:
            return
        self.down = False
        log.warning(
            "Redis at %s is back after %.1f s; %d cross-server messages were dropped meanwhile",
            self.where,
            time.monotonic() - self._down_since,
            self._dropped,
        )

    def unavailable(self) -> RedisUnavailable:
        return RedisUnavailable(f"Redis at {self.where} is unreachable")

    # -- publishing ---------------------------------------------------------------------------

    def publish(self, channel: str, payload: bytes) -> None:
        """Queue ``payload`` for ``channel``; published in order, dropped if Redis is away."""
        self._enqueue(channel, payload, None)

    async def publish_wait(self, channel: str, payload: bytes) -> int:
        """Publish and wait; returns how many subscribers got it. Raises RedisUnavailable."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._enqueue(channel, payload, future)
        return await future

    def _enqueue(self, channel: str, payload: bytes, future: asyncio.Future[int] | None) -> None:
        if self._closed:
            if future is not None:
                future.set_exception(RedisUnavailable("the Redis adapter is closed"))
            return
        if len(self._queue) >= _MAX_QUEUE:
            self._dropped += 1
            self.publish_errors += 1
            self.failed("publish", OverflowError(f"{_MAX_QUEUE} messages waiting"))
            if future is not None:
                future.set_exception(self.unavailable())
            return
        self._queue.append((channel, payload, future))
        if self._wakeup is not None:
            self._wakeup.set()
        else:
            self.start()

    def _fail_queue(self, exc: BaseException) -> None:
        queue = self._queue
        while queue:
            _, _, future = queue.popleft()
            if future is not None and not future.done():
                future.set_exception(exc)

    async def _write_loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), _MAX_BATCH))]
            if self.down and loop.time() < self._next_probe:
                self._drop(batch)
                continue
            try:
                try:
                    results = await self._send(batch)
                except redis.exceptions.ConnectionError:
                    if self.down:
                        raise
                    # A pooled connection Redis closed while idle: try once on a fresh one.
                    results = await self._send(batch)
            except asyncio.CancelledError:
                self._drop(batch)
                raise
            except Exception as exc:
                self.failed("publish", exc)
                self._next_probe = loop.time() + _PROBE_INTERVAL
                self._drop(batch)
                continue
            self.recovered()
            for (_, _, future), result in zip(batch, results, strict=False):
                if future is not None and not future.done():
                    future.set_result(int(result) if isinstance(result, int) else 0)

    async def _send(self, batch: list[tuple[str, bytes, asyncio.Future[int] | None]]) -> list[Any]:
        if len(batch) == 1:
            return [await self.client.publish(batch[0][0], batch[0][1])]
        pipe = self.client.pipeline(transaction=False)
        for channel, payload, _ in batch:
            pipe.publish(channel, payload)
        return list(await pipe.execute())

    def _drop(self, batch: list[tuple[str, bytes, asyncio.Future[int] | None]]) -> None:
        self._dropped += len(batch)
        self.publish_errors += len(batch)
        for _, _, future in batch:
            if future is not None and not future.done():
                future.set_exception(self.unavailable())

    async def numsub(self, channel: str, timeout: float) -> int:
        """Subscribers of ``channel`` (the servers of a namespace). Raises RedisUnavailable."""
        try:
            try:
                result = await asyncio.wait_for(self.client.pubsub_numsub(channel), timeout)
            except redis.exceptions.ConnectionError:
                if self.down:
                    raise
                result = await asyncio.wait_for(self.client.pubsub_numsub(channel), timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed("PUBSUB NUMSUB", exc)
            raise self.unavailable() from exc
        self.recovered()
        for _, count in result:
            return int(count)
        return 0

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self,
        channels: dict[str, Callable[[str, bytes], None]],
        patterns: dict[str, Callable[[str, bytes], None]],
    ) -> None:
        """Route messages of ``channels`` and ``patterns`` to their handlers."""
        self.channels.update(channels)
        self.patterns.update(patterns)
        self._sync_soon()

    def unsubscribe(self, channels: Iterable[str], patterns: Iterable[str]) -> None:
        for name in channels:
            self.channels.pop(name, None)
        for name in patterns:
            self.patterns.pop(name, None)
        self._sync_soon()

    def _sync_soon(self) -> None:
        if self._reader is None:
            self.start()
            return
        if self._pubsub is not None and not self._closed:
            self.spawn(self._sync(self._pubsub))

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` in a task kept alive until it ends."""
        self._background.spawn(coroutine)

    async def _sync(self, pubsub: Any) -> None:
        """Make ``pubsub``'s subscriptions match what the adapters want."""
        assert self._sub_lock is not None
        async with self._sub_lock:
            if pubsub is not self._pubsub:
                return
            try:
                new = [c for c in self.channels if c not in self._subscribed]
                if new:
                    await pubsub.subscribe(*new)
                    self._subscribed.update(new)
                new = [p for p in self.patterns if p not in self._psubscribed]
                if new:
                    await pubsub.psubscribe(*new)
                    self._psubscribed.update(new)
                old = [c for c in self._subscribed if c not in self.channels]
                if old:
                    self._subscribed.difference_update(old)
                    await pubsub.unsubscribe(*old)
                old = [p for p in self._psubscribed if p not in self.patterns]
                if old:
                    self._psubscribed.difference_update(old)
                    await pubsub.punsubscribe(*old)
            except Exception as exc:  # the reader sees the broken connection and starts over
                self.failed("subscribe", exc)

    async def wait_subscribed(self, names: Iterable[str], timeout: float) -> None:
        """Wait until Redis confirmed the subscriptions ``names``; raises RedisUnavailable."""
        if not self.start():
            raise RuntimeError("no running event loop")
        assert self._confirm_event is not None
        wanted = set(names)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not wanted <= self._confirmed:
            self._confirm_event.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self.unavailable()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._confirm_event.wait(), remaining)

    async def _read_loop(self) -> None:
        delay = 0.05
        while not self._closed:
            if not self.channels and not self.patterns:
                await asyncio.sleep(0.05)
                continue
            pubsub: Any = self._sub_client.pubsub()
            self._pubsub = pubsub
            self._subscribed = set()
            self._psubscribed = set()
            self._confirmed = set()
            try:
                await self._sync(pubsub)
                if not self._subscribed and not self._psubscribed:
                    raise ConnectionError("could not subscribe")
                await self._read(pubsub)
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed("subscription", exc)
            finally:
                if self._pubsub is pubsub:
                    self._pubsub = None
                self._confirmed = set()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    async def _read(self, pubsub: Any) -> None:
        """Dispatch messages until the connection breaks; PING it when idle, so a Redis that
        stopped answering (hung, or gone without closing the connection) is noticed."""
        waiting_for_pong = False
        while True:
            message = await pubsub.get_message(timeout=self.health_check_interval)
            if message is None:
                if waiting_for_pong:
                    raise ConnectionError(
                        f"Redis did not answer a PING within {self.health_check_interval} s"
                    )
                await pubsub.ping()
                waiting_for_pong = True
                continue
            waiting_for_pong = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if isinstance(kind, bytes):
            kind = kind.decode()
        raw_channel = message.get("channel")
        channel = (
            raw_channel.decode("utf-8", "replace")
            if isinstance(raw_channel, bytes)
            else str(raw_channel)
        )
        if kind == "pmessage":
            raw_pattern = message.get("pattern")
            pattern = (
                raw_pattern.decode("utf-8", "replace")
                if isinstance(raw_pattern, bytes)
                else str(raw_pattern)
            )
            handler = self.patterns.get(pattern)
        elif kind == "message":
            handler = self.channels.get(channel)
        elif kind in ("subscribe", "psubscribe"):
            self._confirmed.add(channel)
            self.recovered()
            if self._confirm_event is not None:
                self._confirm_event.set()
            return
        elif kind in ("unsubscribe", "punsubscribe"):
            self._confirmed.discard(channel)
            return
        else:
            return
        data = message.get("data")
        if handler is None or not isinstance(data, bytes):
            return
        try:
            handler(channel, data)
        except WireError as exc:
            self.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping a malformed message on Redis channel %s: %s",
                channel,
                exc,
            )
        except Exception as exc:
            self.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping a message on Redis channel %s: %s: %s",
                channel,
                type(exc).__name__,
                exc,
            )
