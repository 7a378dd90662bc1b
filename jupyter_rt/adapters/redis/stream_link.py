"""One server's Redis connections for the Streams adapter: an ordered writer, a stream reader.

:class:`StreamLink` knows streams, keys and bytes, not Socket.IO:

- A writer task runs queued ``XADD`` and ``SET`` commands in order, pipelined. An ``XADD``'s
  callback gets the new entry's id, or ``None`` if Redis could not take it (away, or the queue
  full); a ``SET`` is awaited and raises :class:`~jupyter_rt.errors.RedisUnavailable`.
- A reader task reads every watched stream with a blocking ``XREAD`` from the last entry it
  handed on, so entries added while Redis was unreachable or restarting are still read once it
  answers (what Redis kept of them). :meth:`position` says how far it got, in stream order.
- Pub/sub (requests and their answers) goes through a :class:`~jupyter_rt.adapters.redis.link.
  RedisLink`, whose outage log this link shares: one error when Redis goes away, one warning
  when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
import redis.exceptions

from jupyter_rt.adapters.redis.link import RedisLink
from jupyter_rt.adapters.redis.streams_wire import ClusterMessage, decode_entry, parse_offset
from jupyter_rt.adapters.redis.wire import WireError
from jupyter_rt.errors import RedisUnavailable

__all__ = ["EntryHandler", "StreamEntry", "StreamLink"]

log = logging.getLogger("jupyter_rt.redis")

_MAX_QUEUE = 10_000
_MAX_BATCH = 256
_PROBE_INTERVAL = 0.5
_MAX_BACKOFF = 2.0

Position = tuple[int, int]
"""A stream id ``<ms>-<seq>`` as a comparable pair."""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry as ``XRANGE`` gives it: its id (the offset of a broadcast) and its fields."""

    id: str
    position: Position
    fields: dict[bytes, bytes]


class EntryHandler(Protocol):
    """What the reader hands a namespace's entries to (the adapter)."""

    def on_entry(self, entry_id: str, message: ClusterMessage) -> None: ...


_Write = tuple[str, tuple[Any, ...], Callable[[Any], None]]
"""(command, arguments, what gets the result: an entry id, ``True``, or an exception)."""


def _entries(reply: Any) -> list[StreamEntry]:
    out = []
    for raw_id, fields in reply or ():
        entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
        position = parse_offset(entry_id)
        if position is not None and isinstance(fields, dict):
            out.append(StreamEntry(entry_id, position, fields))
    return out


class StreamLink:
    """One server's stream reader and writer, shared by its namespaces' adapters.

    ``owned`` are the clients it closes with itself (those the factory made)."""

    def __init__(
        self,
        client: aioredis.Redis,
        reader: aioredis.Redis,
        pubsub: RedisLink,
        *,
        max_len: int,
        read_count: int,
        block_time: float,
        max_message_bytes: int,
        owned: tuple[aioredis.Redis, ...] = (),
    ) -> None:
        self.client = client
        self.pubsub = pubsub
        self.max_len = max_len
        self.read_count = read_count
        self.max_message_bytes = max_message_bytes
        self._reader_client = reader
        self._block_ms = max(1, round(block_time * 1000))
        self._owned = owned
        self.users = 0
        self._handlers: dict[tuple[str, str], EntryHandler] = {}
        self._positions: dict[str, Position] = {}
        self._unstarted: set[str] = set()
        self._queue: deque[_Write] = deque()
        self._in_flight = 0
        self._wakeup: asyncio.Event | None = None
        self._moved: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_probe = 0.0
        self._closed = False

    def __repr__(self) -> str:
        return f"<StreamLink {self.pubsub.where} streams={sorted(self._positions)}>"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the tasks if a loop runs (idempotent); ``False`` when none runs yet."""
        if self._tasks or self._closed:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._wakeup = asyncio.Event()
        self._moved = asyncio.Event()
        self._tasks = [
            loop.create_task(self._write_loop(), name="jupyter_rt redis stream writer"),
            loop.create_task(self._read_loop(), name="jupyter_rt redis stream reader"),
        ]
        if self._queue:
            self._wakeup.set()
        return True

    def watch(self, stream: str, nsp: str, handler: EntryHandler) -> None:
        """Hand the entries of namespace ``nsp`` in ``stream`` to ``handler`` from now on."""
        self._handlers[(stream, nsp)] = handler
        if stream not in self._positions:
            self._unstarted.add(stream)
        self.start()

    def unwatch(self, stream: str, nsp: str) -> None:
        self._handlers.pop((stream, nsp), None)

    async def wait_reading(self, timeout: float) -> None:
        """Wait until every watched stream is being read; raises RedisUnavailable."""
        if not self.start():
            raise RuntimeError("no running event loop")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._unstarted:
            if not await self._wait_moved(deadline - loop.time()):
                raise self.pubsub.unavailable()

    async def aclose(self, drain_timeout: float) -> None:
        """Run the writes still queued (for at most ``drain_timeout`` seconds), then stop the
        tasks and close the connections (with the pub/sub link)."""
        if self._closed:
            return
        await asyncio.sleep(0)  # sessions persisted by sockets closed just before are queued
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        while (self._queue or self._in_flight) and self._tasks and loop.time() < deadline:
            await asyncio.sleep(0.01)
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_queue()
        await self.pubsub.aclose()
        for client in self._owned:
            with contextlib.suppress(Exception):
                await client.aclose()

    # -- writing ------------------------------------------------------------------------------

    def append(
        self, stream: str, fields: dict[str, bytes], done: Callable[[str | None], None]
    ) -> None:
        """Queue ``XADD stream MAXLEN ~ max_len * fields``; ``done`` gets the entry id, or
        ``None`` if Redis did not take it."""

        def result(value: Any) -> None:
            if isinstance(value, bytes):
                done(value.decode())
            elif isinstance(value, str):
                done(value)
            else:
                done(None)

        self._enqueue(("xadd", (stream, fields), result))

    async def store(self, key: str, value: bytes, ttl_ms: int) -> None:
        """``SET key value PX ttl_ms``, in order with the appends; raises RedisUnavailable."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def result(outcome: Any) -> None:
            if not future.done():
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

        self._enqueue(("set", (key, value, max(1, ttl_ms)), result))
        await future

    def _enqueue(self, write: _Write) -> None:
        if self._closed or len(self._queue) >= _MAX_QUEUE:
            if not self._closed:
                self.pubsub.publish_errors += 1
                self.pubsub.failed("stream write", OverflowError(f"{_MAX_QUEUE} writes waiting"))
            write[2](RedisUnavailable("the Redis Streams adapter cannot write now"))
            return
        self._queue.append(write)
        if self._wakeup is not None:
            self._wakeup.set()
        else:
            self.start()

    def _fail_queue(self) -> None:
        while self._queue:
            self._queue.popleft()[2](RedisUnavailable("the Redis Streams adapter is closed"))

    async def _write_loop(self) -> None:
        assert self._wakeup is not None
        wakeup, queue = self._wakeup, self._queue
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                wakeup.clear()
                await wakeup.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), _MAX_BATCH))]
            if self.pubsub.down and loop.time() < self._next_probe:
                self.pubsub.publish_errors += len(batch)
                self._fail(batch, self.pubsub.unavailable())
                continue
            self._in_flight = len(batch)
            try:
                results = await self._retried(functools.partial(self._send, batch))
            except asyncio.CancelledError:
                self._fail(batch, RedisUnavailable("the Redis Streams adapter is closed"))
                raise
            except Exception as exc:
                self.pubsub.publish_errors += len(batch)
                self.pubsub.failed("stream write", exc)
                self._next_probe = loop.time() + _PROBE_INTERVAL
                self._fail(batch, self.pubsub.unavailable())
                continue
            finally:
                self._in_flight = 0
            self.pubsub.recovered()
            for (command, _, deliver), outcome in zip(batch, results, strict=True):
                if isinstance(outcome, Exception):
                    log.warning("Redis refused %s: %s", command.upper(), outcome)
                    outcome = RedisUnavailable(f"Redis refused {command.upper()}: {outcome}")
                deliver(outcome)

    async def _send(self, batch: list[_Write]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for command, args, _ in batch:
            if command == "xadd":
                stream, fields = args
                pipe.xadd(stream, fields, maxlen=self.max_len, approximate=True)
            else:
                key, value, ttl_ms = args
                pipe.set(key, value, px=ttl_ms)
        return list(await pipe.execute(raise_on_error=False))

    @staticmethod
    def _fail(batch: list[_Write], exc: BaseException) -> None:
        for _, _, deliver in batch:
            deliver(exc)

    # -- reading on demand --------------------------------------------------------------------

    async def _retried(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """``await call()``, once more on a fresh connection if a pooled one Redis closed
        (it restarted, or dropped idle connections) fails while Redis is thought up."""
        try:
            return await call()
        except redis.exceptions.ConnectionError:
            if self.pubsub.down:
                raise
            return await call()

    async def _command(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        try:
            result = await self._retried(call)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.pubsub.failed(what, exc)
            raise self.pubsub.unavailable() from exc
        self.pubsub.recovered()
        return result

    async def take(self, key: str) -> tuple[bytes | None, int]:
        """``GET`` and ``DEL`` ``key`` at once: its value (``None`` if none) and the
        milliseconds it had left. Raises RedisUnavailable."""

        async def call() -> Any:
            pipe = self.client.pipeline(transaction=True)
            pipe.get(key)
            pipe.pttl(key)
            pipe.delete(key)
            return await pipe.execute()

        value, ttl, _ = await self._command("session read", call)
        return (value if isinstance(value, bytes) else None), int(ttl or 0)

    async def range(self, stream: str, start: str, count: int) -> list[StreamEntry]:
        """``XRANGE stream start + COUNT count``; raises RedisUnavailable."""
        reply = await self._command(
            "stream range", lambda: self.client.xrange(stream, min=start, max="+", count=count)
        )
        return _entries(reply)

    def position(self, stream: str) -> Position | None:
        """The id of the last entry of ``stream`` the reader handed on (or the stream's last
        when reading began); ``None`` before it began."""
        return self._positions.get(stream)

    async def wait_position(self, stream: str, target: Position, timeout: float) -> bool:
        """Wait until the reader is at ``target`` or past it; ``False`` after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            position = self._positions.get(stream)
            if position is not None and position >= target:
                return True
            if not await self._wait_moved(deadline - loop.time()):
                return False

    async def _wait_moved(self, remaining: float) -> bool:
        if remaining <= 0 or self._moved is None:
            return False
        moved = self._moved
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(moved.wait(), remaining)
            return True
        return False

    def _signal_moved(self) -> None:
        if self._moved is not None:
            self._moved.set()
            self._moved = asyncio.Event()

    # -- the reader ---------------------------------------------------------------------------

    async def _start_positions(self) -> None:
        for stream in sorted(self._unstarted):
            last = await self._reader_client.xrevrange(stream, max="+", min="-", count=1)
            entries = _entries(last)
            self._positions[stream] = entries[0].position if entries else (0, 0)
            self._unstarted.discard(stream)
        self._signal_moved()

    async def _read_loop(self) -> None:
        delay = 0.05
        while not self._closed:
            try:
                if self._unstarted:
                    await self._start_positions()
                if not self._positions:
                    await asyncio.sleep(0.05)
                    continue
                streams = {name: f"{ms}-{seq}" for name, (ms, seq) in self._positions.items()}
                reply: Any = await self._reader_client.xread(
                    streams,  # type: ignore[arg-type]
                    count=self.read_count,
                    block=self._block_ms,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.pubsub.failed("stream read", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
                continue
            delay = 0.05
            self.pubsub.recovered()
            for raw_name, entries in reply or ():
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                for entry in _entries(entries):
                    self._dispatch(name, entry)
            self._signal_moved()

    def _dispatch(self, stream: str, entry: StreamEntry) -> None:
        try:
            message = decode_entry(entry.fields, self.max_message_bytes)
            handler = self._handlers.get((stream, message.nsp))
            if handler is not None:
                handler.on_entry(entry.id, message)
        except WireError as exc:
            self.pubsub.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping a malformed entry %s of Redis stream %s: %s",
                entry.id,
                stream,
                exc,
            )
        except Exception as exc:
            self.pubsub.warner.log(
                logging.WARNING,
                "dropped",
                "Dropping entry %s of Redis stream %s: %s: %s",
                entry.id,
                stream,
                type(exc).__name__,
                exc,
            )
        finally:
            current = self._positions.get(stream)
            if current is None or entry.position > current:
                self._positions[stream] = entry.position
