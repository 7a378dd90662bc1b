"""The event handlers of a client: several per event, a catch-all ``"*"``, per namespace."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from jupyter_rt.protocol.events import check_event_name

__all__ = ["CATCH_ALL", "LIFECYCLE_EVENTS", "Handler", "Handlers", "run_handlers"]

log = logging.getLogger("jupyter_rt.client")

Handler = Callable[..., Any]
"""An event handler: called with the event's arguments, sync or async; its result is the ack."""

CATCH_ALL = "*"
"""The event name of the handlers called for every event, as ``handler(event, *args)``."""

LIFECYCLE_EVENTS = frozenset({"connect", "connect_error", "disconnect"})
"""Local events a handler may listen to: ``connect()``, ``connect_error(error)``,
``disconnect(reason)``. The catch-all handlers do not get them."""


class Handlers:
    """Handlers by namespace (``None``: the client's default namespace) and event."""

    def __init__(self) -> None:
        self._by_namespace: dict[str | None, dict[str, list[Handler]]] = {}

    def add(self, namespace: str | None, event: str, handler: Handler) -> None:
        """Add ``handler`` after those of ``event`` (raises ``TypeError`` if not callable)."""
        check_event_name(event, allow_empty=False, allow_reserved=True)
        if not callable(handler):
            raise TypeError("a handler must be callable")
        self._by_namespace.setdefault(namespace, {}).setdefault(event, []).append(handler)

    def remove(self, namespace: str | None, event: str, handler: Handler | None) -> None:
        """Remove ``handler`` of ``event`` (compared with ``==``: bound methods are new objects
        each time), or all of them."""
        handlers = self._by_namespace.get(namespace, {})
        if handler is None:
            handlers.pop(event, None)
        elif handler in handlers.get(event, ()):
            handlers[event].remove(handler)

    def of(self, namespace: str, event: str, default: str) -> list[Handler]:
        """The handlers of ``event`` on ``namespace``: those registered for it by name, then
        those registered without a namespace when it is the ``default`` one."""
        found = list(self._by_namespace.get(namespace, {}).get(event, ()))
        if namespace == default:
            found += self._by_namespace.get(None, {}).get(event, ())
        return found

    def for_event(
        self, namespace: str, event: str, default: str
    ) -> tuple[list[Handler], list[Handler]]:
        """The handlers an incoming ``event`` runs: its own, and the catch-all ones."""
        own = [] if event == CATCH_ALL else self.of(namespace, event, default)
        return own, self.of(namespace, CATCH_ALL, default)


async def run_handlers(
    own: list[Handler], catch_all: list[Handler], event: str, args: list[Any]
) -> tuple[bool, Any]:
    """Run ``own(*args)`` then ``catch_all(event, *args)``, one after the other (awaiting the
    async ones); a handler that raises is logged and the next one runs.

    Returns whether one returned, and what the first that returned gave (the ack's value).
    """
    answered, value = False, None
    calls = [(fn, args) for fn in own] + [(fn, [event, *args]) for fn in catch_all]
    for fn, call_args in calls:
        try:
            result = fn(*call_args)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("Error in a handler of %r", event)
            continue
        if not answered:
            answered, value = True, result
    return answered, value
