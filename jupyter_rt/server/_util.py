"""Small pieces shared by the server modules: running app code (sync or async, timed, errors
logged), the emit result, name checks.

``ack_args`` and ``ack_value`` are re-exported from :mod:`jupyter_rt.protocol.events`, their home.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt._throttle import LogThrottle
from jupyter_rt.errors import LimitExceeded, NotConnected
from jupyter_rt.protocol.events import ack_args, ack_value, check_event_name

if TYPE_CHECKING:
    from jupyter_rt.server.observer import Observer

log = logging.getLogger("jupyter_rt")

__all__ = [
    "INTERNAL_ERROR",
    "SENT",
    "Sent",
    "TaskGroup",
    "Timed",
    "Where",
    "ack_args",
    "ack_value",
    "call_handler",
    "check_event",
    "error_ack",
    "handler_name",
    "in_thread",
    "is_awaitable",
    "log",
    "report_error",
    "report_slow",
    "room_names",
    "run_sync",
    "wants_ack",
]


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
    """How the server runs app code: keeps async handlers' tasks alive until they finish
    (a :class:`~jupyter_rt._tasks.TaskKeeper`), and reports errors, limits hit and
    loop-blocking steps through one rate-limited ``throttle``.

    ``slow_threshold``: seconds a sync handler (or one step of an async one) may hold the event
    loop before it is logged; ``0`` turns it off. ``observer``, when set, is told how long the
    code :func:`call_handler` runs took (``Observer.handler_finished``); the server keeps it
    the same as ``Server.observer``.
    """

    __slots__ = ("_keeper", "observer", "slow_threshold", "throttle")

    def __init__(self, slow_threshold: float = 0.1, throttle: LogThrottle | None = None) -> None:
        self._keeper = TaskKeeper()
        self.slow_threshold = slow_threshold
        self.throttle = throttle if throttle is not None else LogThrottle(log)
        self.observer: Observer | None = None

    def spawn(
        self, awaitable: Awaitable[Any], *, context: contextvars.Context | None = None
    ) -> asyncio.Future[Any]:
        """Run ``awaitable`` in the background (in ``context`` if given), kept until it
        finishes."""
        return self._keeper.spawn(awaitable, context=context)

    def start(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` now, up to its first suspension, in a copy of the current context
        (as a task would); if it suspends, a task carries it on from there. A handler that
        finishes without waiting (most do) costs no task and answers within this loop turn.

        ``coroutine`` must handle its own exceptions; a cancellation ends it quietly.
        """
        context = contextvars.copy_context()
        try:
            signal = context.run(coroutine.send, None)
        except StopIteration:
            return
        except asyncio.CancelledError:
            return
        self._keeper.spawn(_Resumed(coroutine, signal), context=context)

    def cancel_all(self) -> None:
        """Cancel every task still running."""
        self._keeper.cancel_all()

    def __len__(self) -> int:
        return len(self._keeper)


INTERNAL_ERROR = "Internal server error"

Where = tuple[str, str]
"""(namespace, event) of a handler, for the logs."""


def error_ack(exc: BaseException) -> dict[str, Any]:
    """The ack a client gets when its handler raised: the limit's message, or a generic one."""
    message = exc.message if isinstance(exc, LimitExceeded) else INTERNAL_ERROR
    return {"ok": False, "error": message}


def handler_name(handler: Callable[..., Any]) -> str:
    """``module.qualname`` of a handler (through partials): names the app code in logs."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    module = getattr(handler, "__module__", None) or "?"
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{qualname}"


def report_error(
    tasks: TaskGroup, exc: BaseException, handler: Callable[..., Any], what: str, where: Where
) -> None:
    """Log what a handler raised: a limit as a warning per kind, anything else with its
    traceback per handler; each at most once per throttle interval. The record's ``where``
    attribute is ``where``."""
    name = handler_name(handler)
    if isinstance(exc, LimitExceeded):
        tasks.throttle.log(
            logging.WARNING,
            ("limit", exc.kind),
            "Limit hit in %s %s (namespace %s, event %s): %s; the request was refused",
            what,
            name,
            *where,
            exc.message,
            extra={"where": where},
        )
    else:
        tasks.throttle.log(
            logging.ERROR,
            ("error", name),
            "Error in %s %s (namespace %s, event %s)",
            what,
            name,
            *where,
            exc_info=exc,
            extra={"where": where},
        )


def report_slow(
    tasks: TaskGroup, elapsed: float, handler: Callable[..., Any], what: str, where: Where
) -> None:
    """Log a handler that held the event loop ``elapsed`` seconds, if over the threshold."""
    threshold = tasks.slow_threshold
    if threshold <= 0 or elapsed < threshold:
        return
    name = handler_name(handler)
    tasks.throttle.log(
        logging.WARNING,
        ("slow", name, where),
        "%s %s (namespace %s, event %s) blocked the event loop for %.0f ms (threshold %.0f ms): "
        "the whole server waited; make it async, or run it with thread=True or asyncio.to_thread",
        what.capitalize(),
        name,
        *where,
        elapsed * 1000,
        threshold * 1000,
        extra={"where": where},
    )


def run_sync(
    tasks: TaskGroup, handler: Callable[..., Any], args: Sequence[Any], what: str, where: Where
) -> Any:
    """``handler(*args)``, timed (see :func:`report_slow`); exceptions propagate."""
    start = time.perf_counter()
    try:
        return handler(*args)
    finally:
        elapsed = time.perf_counter() - start
        if elapsed >= tasks.slow_threshold > 0:
            report_slow(tasks, elapsed, handler, what, where)


_PLAIN_VALUES = frozenset({type(None), bool, int, float, str, bytes, tuple, list, dict})


def is_awaitable(value: object) -> bool:
    """``isinstance(value, Awaitable)``, answered at once for the plain values handlers
    return most (the ABC's check costs more than the rest of a small handler's call)."""
    return value.__class__ not in _PLAIN_VALUES and isinstance(value, Awaitable)


def call_handler(
    tasks: TaskGroup,
    handler: Callable[..., Any],
    args: Sequence[Any],
    on_result: Callable[[Any], None] | None = None,
    what: str = "handler",
    where: Where = ("?", "?"),
    on_error: Callable[[Any], None] | None = None,
) -> None:
    """Call a sync or async handler; pass its result to ``on_result``.

    What it raises is logged (rate-limited, :func:`report_error`) and, with ``on_error``, its
    :func:`error_ack` is passed there. ``where`` (namespace, event) goes in the logs;
    sync steps that hold the loop too long are logged too. With ``tasks.observer`` set, it is
    told how long the handler ran, before its result or error goes on.
    """
    observer = tasks.observer
    started = time.perf_counter() if observer is not None else 0.0
    try:
        result = run_sync(tasks, handler, args, what, where)
    except Exception as exc:
        if observer is not None:
            observer.handler_finished(where[0], what, time.perf_counter() - started)
        report_error(tasks, exc, handler, what, where)
        if on_error is not None:
            on_error(error_ack(exc))
        return
    if is_awaitable(result):
        timed = started if observer is not None else None
        tasks.start(_finish(tasks, result, on_result, what, handler, where, on_error, timed))
        return
    if observer is not None:
        observer.handler_finished(where[0], what, time.perf_counter() - started)
    if on_result is not None:
        on_result(result)


async def _finish(
    tasks: TaskGroup,
    awaitable: Awaitable[Any],
    on_result: Callable[[Any], None] | None,
    what: str,
    handler: Callable[..., Any],
    where: Where,
    on_error: Callable[[Any], None] | None,
    started: float | None,
) -> None:
    try:
        result = await Timed(awaitable, tasks, handler, what, where)
    except NotConnected as exc:
        _report_time(tasks, what, where, started)
        log.info("%s %s stopped: %s", what.capitalize(), handler_name(handler), exc)
        return
    except Exception as exc:
        _report_time(tasks, what, where, started)
        report_error(tasks, exc, handler, what, where)
        if on_error is not None:
            on_error(error_ack(exc))
        return
    _report_time(tasks, what, where, started)
    if on_result is not None:
        on_result(result)


def _report_time(tasks: TaskGroup, what: str, where: Where, started: float | None) -> None:
    """Tell the observer how long an async handler ran (``started``: when it was called)."""
    observer = tasks.observer
    if started is not None and observer is not None:
        observer.handler_finished(where[0], what, time.perf_counter() - started)


class _Resumed:
    """The rest of a coroutine whose first step ran already and yielded ``signal``: awaited by
    the task that carries it on (``signal`` goes to that task first)."""

    __slots__ = ("_coroutine", "_signal")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], signal: Any) -> None:
        self._coroutine = coroutine
        self._signal = signal

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, signal = self._coroutine, self._signal
        while True:
            try:
                value = yield signal
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation, thrown in by the task
                try:
                    signal = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    signal = coroutine.send(value)
                except StopIteration as stop:
                    return stop.value


class Timed:
    """Awaits ``awaitable`` like ``yield from``, timing each synchronous step it runs."""

    __slots__ = ("_awaitable", "_handler", "_tasks", "_what", "_where")

    def __init__(
        self,
        awaitable: Awaitable[Any],
        tasks: TaskGroup,
        handler: Callable[..., Any],
        what: str,
        where: Where,
    ) -> None:
        self._awaitable = awaitable
        self._tasks = tasks
        self._handler = handler
        self._what = what
        self._where = where

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self._awaitable.__await__()
        value: Any = None
        error: BaseException | None = None
        while True:
            start = time.perf_counter()
            try:
                signal = inner.send(value) if error is None else inner.throw(error)
            except StopIteration as stop:
                return stop.value
            finally:
                elapsed = time.perf_counter() - start
                report_slow(self._tasks, elapsed, self._handler, self._what, self._where)
            try:
                value, error = (yield signal), None
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:  # cancellation, thrown in by the task
                value, error = None, exc


def in_thread(handler: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """``handler`` (sync) wrapped to run in the loop's default executor, with the caller's
    context; an ``ack`` keyword it gets is called back on the loop. ``__wrapped__`` is the
    handler (``off`` finds it by it)."""

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        ack = kwargs.get("ack")
        if ack is not None:
            kwargs["ack"] = lambda *a: loop.call_soon_threadsafe(ack, *a)
        call = functools.partial(contextvars.copy_context().run, handler, *args, **kwargs)
        return await loop.run_in_executor(None, call)

    return run


def check_event(event: object) -> None:
    """Refuse what cannot be emitted as an event name (see
    :func:`~jupyter_rt.protocol.events.check_event_name`)."""
    check_event_name(event)


def room_names(rooms: str | Iterable[str], max_length: int) -> list[str]:
    """``rooms`` (one name or several) as a list, each checked."""
    names = [rooms] if isinstance(rooms, str) else list(rooms)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a room name must be a str, not {type(name).__name__}")
        if len(name) > max_length:
            raise LimitExceeded(
                f"room name longer than {max_length} characters", kind="max_name_length"
            )
    return names


def wants_ack(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` declares a keyword-only parameter named ``ack``."""
    handler = getattr(handler, "__wrapped__", handler)
    code = getattr(handler, "__code__", None)
    if code is None:
        code = getattr(getattr(handler, "__func__", None), "__code__", None)
        if code is None:
            return False
    if not code.co_kwonlyargcount:
        return False
    start = code.co_argcount
    return "ack" in code.co_varnames[start : start + code.co_kwonlyargcount]


class CallAck:
    """The ack of a ``Socket.call``: resolves its future, fails it on disconnect."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future

    def __call__(self, args: list[Any]) -> None:
        if not self.future.done():
            self.future.set_result(ack_value(args))

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
