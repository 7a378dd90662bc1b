"""Background tasks kept alive until they finish (asyncio holds only weak references to tasks).

Any layer may use it (it imports nothing of jupyter_rt)::

    tasks = TaskKeeper()
    tasks.spawn(coroutine)      # runs; referenced until done
    tasks.cancel_all()          # at shutdown
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Iterator
from typing import Any

__all__ = ["TaskKeeper"]


class TaskKeeper:
    """A set of running tasks; each leaves the set when it is done."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(
        self, awaitable: Awaitable[Any], *, context: contextvars.Context | None = None
    ) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task on the running loop (in ``context`` if given) and keep it
        until it finishes. A future is kept as it is."""
        if context is None:
            task = asyncio.ensure_future(awaitable)
        else:
            task = context.run(asyncio.ensure_future, awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        """Cancel every task still running (they leave the set as they finish)."""
        for task in list(self._tasks):
            task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        """The running tasks, as a snapshot."""
        return iter(list(self._tasks))
