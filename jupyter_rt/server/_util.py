"""Small pieces shared by the server modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from typing import Any, Protocol

from jupyter_rt.errors import LimitExceeded, NotConnected
from jupyter_rt.protocol.socketio import RESERVED_EVENTS

log = logging.getLogger("jupyter_rt")


class EngineHandshake(Protocol):
    """What the server reads from the Engine.IO session's handshake."""

    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def remote_address(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def user(self) -> Mapping[str, object] | None: ...
    @property
    def issued(self) -> float: ...


class EngineSessionLike(Protocol):
    """The Engine.IO session as the server uses it (``jupyter_rt.engine.EngineSession``)."""

    @property
    def sid(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def handshake(self) -> EngineHandshake: ...
    @property
    def closed(self) -> bool: ...
    @property
    def writable(self) -> bool: ...
    def send(self, messages: Sequence[str | bytes]) -> None: ...
    def close(self, reason: str = ..., *, notify: bool = ...) -> None: ...


class Sent:
    """The result of an emit: already sent, awaiting it is optional and returns at once."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator

    def __repr__(self) -> str:
        return "<sent>"


SENT = Sent()


class TaskGroup:
    """Keeps the tasks the server starts for async handlers alive until they finish."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def __len__(self) -> int:
        return len(self._tasks)


def ack_args(result: object) -> list[Any]:
    """A handler's return value as ack arguments: ``None`` → none, a tuple → several, else one."""
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


def ack_value(args: Sequence[Any]) -> Any:
    """Ack arguments as one value: none → ``None``, one → itself, several → a tuple."""
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


def call_handler(
    tasks: TaskGroup,
    handler: Callable[..., Any],
    args: Sequence[Any],
    on_result: Callable[[Any], None] | None = None,
    what: str = "handler",
) -> None:
    """Call a sync or async handler; log what it raises; pass its result to ``on_result``."""
    try:
        result = handler(*args)
    except Exception:
        log.exception("Error in %s %r", what, handler)
        return
    if result is not None and isinstance(result, Awaitable):
        tasks.spawn(_finish(result, on_result, what, handler))
    elif on_result is not None:
        on_result(result)


async def _finish(
    awaitable: Awaitable[Any],
    on_result: Callable[[Any], None] | None,
    what: str,
    handler: Callable[..., Any],
) -> None:
    try:
        result = await awaitable
    except NotConnected as exc:
        log.info("%s %r stopped: %s", what.capitalize(), handler, exc)
        return
    except Exception:
        log.exception("Error in %s %r", what, handler)
        return
    if on_result is not None:
        on_result(result)


def check_event(event: object) -> None:
    """Refuse what cannot be emitted as an event name."""
    if not isinstance(event, str):
        raise TypeError(f"an event name must be a str, not {type(event).__name__}")
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")


def room_names(rooms: str | Iterable[str], max_length: int) -> list[str]:
    """``rooms`` (one name or several) as a list, each checked."""
    names = [rooms] if isinstance(rooms, str) else list(rooms)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a room name must be a str, not {type(name).__name__}")
        if len(name) > max_length:
            raise LimitExceeded(f"room name longer than {max_length} characters")
    return names


def wants_ack(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` declares a keyword-only parameter named ``ack``."""
    code = getattr(handler, "__code__", None)
    if code is None:
        code = getattr(getattr(handler, "__func__", None), "__code__", None)
        if code is None:
            return False
    start = code.co_argcount
    return "ack" in code.co_varnames[start : start + code.co_kwonlyargcount]
