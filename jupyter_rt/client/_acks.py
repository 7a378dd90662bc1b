"""The acks a client waits for: a ``call``'s answer or an ``emit``'s callback, each given up
after its timeout, at most :data:`MAX_PENDING_ACKS` at once."""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from typing import Any

from jupyter_rt.client._handlers import Handler
from jupyter_rt.errors import AckTimeout

__all__ = ["MAX_PENDING_ACKS", "PendingAcks"]

log = logging.getLogger("jupyter_rt.client")

MAX_PENDING_ACKS = 10_000
"""Acks waited for at once; past this the oldest is given up (a ``call`` gets AckTimeout)."""


@dataclass(slots=True)
class _Pending:
    namespace: str
    future: asyncio.Future[list[Any]] | None = None
    callback: Handler | None = None
    timer: asyncio.TimerHandle | None = None


class PendingAcks:
    """Acks by id. A ``call`` waits on a future (its caller applies the timeout); a callback
    is forgotten after its timeout, with a warning, so a late ack does not run it."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._pending)

    def expect_answer(self, namespace: str) -> tuple[int, asyncio.Future[list[Any]]]:
        """A new ack id and the future its ack's arguments resolve; :meth:`forget` it after."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        return self._add(_Pending(namespace, future=future)), future

    def expect_callback(
        self, namespace: str, callback: Handler, event: str, timeout: float | None
    ) -> int:
        """A new ack id whose ack runs ``callback`` if it comes within ``timeout`` seconds
        (``None``: as long as the connection to ``namespace`` lasts)."""
        pending = _Pending(namespace, callback=callback)
        ack_id = self._add(pending)
        if timeout is not None:
            pending.timer = asyncio.get_running_loop().call_later(
                timeout, self._give_up, ack_id, event, timeout
            )
        return ack_id

    def _add(self, pending: _Pending) -> int:
        ack_id = next(self._ids)
        self._pending[ack_id] = pending
        while len(self._pending) > MAX_PENDING_ACKS:
            self._end(next(iter(self._pending)), AckTimeout("too many acks pending"))
        return ack_id

    def _give_up(self, ack_id: int, event: str, timeout: float) -> None:
        if self._pending.pop(ack_id, None) is not None:
            log.warning("No ack for %r within %s s: its callback will not run", event, timeout)

    def forget(self, ack_id: int) -> None:
        """Stop waiting for ``ack_id``."""
        self._end(ack_id, None)

    def answered(self, ack_id: int | None, namespace: str, values: list[Any]) -> Handler | None:
        """An ACK came: resolve the call waiting for it, or return the callback to run with
        ``values``. An unknown id, or one of another namespace, is ignored."""
        pending = self._pending.get(ack_id) if ack_id is not None else None
        if ack_id is None or pending is None or pending.namespace != namespace:
            return None
        del self._pending[ack_id]
        if pending.timer is not None:
            pending.timer.cancel()
        if pending.future is not None and not pending.future.done():
            pending.future.set_result(values)
        return pending.callback

    def fail(self, namespace: str, error: Exception) -> None:
        """The connection to ``namespace`` is gone: its calls raise ``error``, its callbacks
        will not run."""
        for ack_id in [i for i, p in self._pending.items() if p.namespace == namespace]:
            self._end(ack_id, error)

    def _end(self, ack_id: int, error: Exception | None) -> None:
        pending = self._pending.pop(ack_id, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        if error is not None and pending.future is not None and not pending.future.done():
            pending.future.set_exception(error)
