"""One way to wait for a condition in a test: poll it until it holds or time runs out."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")

#: What a failed wait says: a fixed text, or a callable asked at that moment (to show the state).
Message = str | Callable[[], str] | None


class WaitTimeout(AssertionError, TimeoutError):
    """A condition did not hold in time (an ``AssertionError``, so pytest shows it as a failure,
    and a ``TimeoutError``)."""


def _fail(message: Message, timeout: float, last: object) -> WaitTimeout:
    what = message() if callable(message) else message
    text = f"waiting for {what}" if what else "condition not met"
    return WaitTimeout(f"timed out after {timeout} s {text} (last value: {last!r})")


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T]],
    timeout: float = ...,
    interval: float = ...,
    message: Message = ...,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T],
    timeout: float = ...,
    interval: float = ...,
    message: Message = ...,
) -> T: ...


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: Message = None,
) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something truthy; return that.

    ``predicate`` may be a plain or an async function. It is called at least once and once more
    after the deadline, so a condition met at the last moment still counts. Raises
    :class:`WaitTimeout` after ``timeout`` s, naming ``message`` (a string, or a callable asked
    then, to describe the state).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        late = loop.time() > deadline
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if late:
            raise _fail(message, timeout, value)
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], T],
    timeout: float = 5.0,
    interval: float = 0.01,
    message: Message = None,
) -> T:
    """:func:`wait_until` for code with no event loop running (it blocks the thread)."""
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() > deadline
        value = predicate()
        if value:
            return value
        if late:
            raise _fail(message, timeout, value)
        time.sleep(interval)
