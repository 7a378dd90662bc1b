"""The base of every jupyter_rt widget: a Socket.IO client that lives in the browser.

The browser side (``labextension/src/model.ts``) owns the socket and talks straight to
``{base_url}socket.io/`` of the page's own Jupyter server, with the page's credentials.
The kernel drives it with custom comm messages (:mod:`jupyter_rt.widgets._messages`):
``emit`` goes kernel → browser → server, and server events that the kernel listens to
come back browser → kernel. A busy kernel only delays its own handlers; the page keeps
talking to the server.

Handlers and callbacks run in the kernel when it processes the comm message, that is,
between cells. Do not ``await`` an ack inside a cell: the reply cannot arrive until the
cell ends. Use ``callback=``.

Several pages on one kernel (two tabs on a notebook) each get every widget model. Each
page is known by its kernel client session (the ``session`` of the requests it sends).
One of them, :attr:`SocketWidget._driver`, speaks for the kernel: its socket sends the
kernel's emits and commands, it forwards server events and the socket's life to kernel
handlers, and its status is the one synced. The kernel picks it, so the pages never
disagree:

1. the page whose request the kernel is handling (the one that ran the cell, or that
   forwarded the event a handler answers), if it shows the widget;
2. else the current one, if it shows the widget;
3. else the first page that showed the widget and still does;
4. else, nobody showing it, the page whose request the kernel is handling (it opens a
   socket for the widget without a view), or the current one.

Every command names its page (``to``); other pages ignore it. Pages tell the kernel when
they start and stop showing a widget (``views``). A page that shows the widget but does
not speak for the kernel is one more client of its own, as a user in another tab is.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ipywidgets import DOMWidget
from traitlets import Bool, Dict, Float, Int, List, TraitError, Unicode, validate

from ..errors import AckTimeout, NotConnected, RealtimeError
from ..protocol.events import RESERVED_EVENTS, ack_args, check_event_name
from ._frontend import MODULE_NAME, MODULE_VERSION
from ._messages import EmitMsg, deconstruct, reconstruct

__all__ = ["RESERVED_EVENTS", "Handler", "SocketWidget"]

log = logging.getLogger(__name__)

Handler = Callable[..., object]
"""A kernel-side event handler: called with the event's arguments."""

H = TypeVar("H", bound=Handler)


LIFECYCLE_EVENTS = frozenset({"connect", "connect_error", "disconnect"})
"""Socket events the browser reports to kernel handlers, besides server events."""

TRANSPORTS = frozenset({"polling", "websocket", "webtransport"})

MAX_PENDING_ACKS = 10_000
"""Acks waited for at once; past this the oldest one fails with :class:`AckTimeout`."""


@dataclass(slots=True)
class _PendingAck:
    event: str
    callback: Handler | None
    on_error: Callable[[RealtimeError], object] | None


def _report(where: str) -> None:
    """Show the current exception where a notebook user sees it, else log it."""
    ip: Any = None
    try:
        from IPython.core.getipython import get_ipython

        ip = get_ipython()  # type: ignore[no-untyped-call,unused-ignore]
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        pass
    if ip is not None:
        ip.showtraceback()
    else:
        log.exception("error in %s", where)


class SocketWidget(DOMWidget):  # type: ignore[misc]
    """A Socket.IO client in the page, on one namespace of the notebook's own server.

    Traits kept in sync by the browser (read them, do not set them): ``connected``,
    ``transport`` (``"polling"`` or ``"websocket"``), ``sid`` (this namespace's socket
    id), ``error`` (the last connection error).

    The socket opens when a view is shown (``autoconnect``) or as soon as the kernel uses
    the widget (:meth:`emit`, :meth:`on`, :meth:`connect`), and reconnects on its own. It
    closes when its last view goes away (a re-run cell) unless the kernel uses it, and for
    good on :meth:`close`. :meth:`disconnect` and :meth:`connect` control it by hand.
    """

    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)

    namespace = Unicode("/", help="The namespace to connect to, e.g. '/hub'.").tag(sync=True)
    transports = List(
        Unicode(),
        default_value=None,
        allow_none=True,
        help="Transports in order of preference; None: polling, then upgrade to websocket.",
    ).tag(sync=True)
    auth = Dict(help="The CONNECT packet's auth payload (JSON).").tag(sync=True)
    autoconnect = Bool(True, help="Open the socket when a view is shown (else on connect()).").tag(
        sync=True
    )
    log_limit = Int(50, help="How many lines the browser-side event log keeps.").tag(sync=True)
    ack_timeout = Float(10.0, help="Default seconds to wait for an ack requested by emit().")

    connected = Bool(False, read_only=True).tag(sync=True)
    transport = Unicode("", read_only=True).tag(sync=True)
    sid = Unicode("", read_only=True).tag(sync=True)
    error = Unicode("", read_only=True).tag(sync=True)

    _listen = List(Unicode()).tag(sync=True)
    _driver = Unicode("", read_only=True, help="The page that speaks for the kernel.").tag(
        sync=True
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pages: dict[str, None] = {}  # pages showing a view, in the order they showed one
        self._handlers: dict[str, list[Handler]] = {}
        self._pending: OrderedDict[int, _PendingAck] = OrderedDict()
        self._ack_ids = itertools.count(1)
        self.on_msg(self._on_browser_msg)

    @validate("transports")
    def _check_transports(self, proposal: dict[str, Any]) -> list[str] | None:
        value = proposal["value"]
        if value is None:
            return None
        transports = [str(t) for t in value]
        unknown = [t for t in transports if t not in TRANSPORTS]
        if unknown:
            raise TraitError(f"unknown transport(s) {unknown!r}; use {sorted(TRANSPORTS)!r}")
        return transports

    @validate("namespace")
    def _check_namespace(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        return value if value.startswith("/") else f"/{value}"

    # ---------------------------------------------------------------- emitting

    def emit(
        self,
        event: str,
        *args: object,
        callback: Handler | None = None,
        timeout: float | None = None,
        on_error: Callable[[RealtimeError], object] | None = None,
    ) -> None:
        """Emit ``event`` with ``args`` to the server, through the browser.

        Arguments must be JSON values or ``bytes``. With ``callback`` the server is asked
        for an ack, and ``callback(*ack_args)`` runs in the kernel when it arrives. When
        no ack arrives within ``timeout`` seconds (default :attr:`ack_timeout`), or the
        browser has no socket, ``on_error`` gets an :class:`~jupyter_rt.errors.AckTimeout`
        (or :class:`~jupyter_rt.errors.NotConnected`); without ``on_error`` that is logged.

        Raises ``ValueError`` for an event name a client may not emit.
        """
        check_event_name(event, allow_empty=False)
        ack: int | None = None
        wait: float | None = None
        if callback is not None or on_error is not None:
            ack = next(self._ack_ids)
            self._pending[ack] = _PendingAck(event, callback, on_error)
            while len(self._pending) > MAX_PENDING_ACKS:
                _, dropped = self._pending.popitem(last=False)
                self._fail(dropped, AckTimeout(f"no ack for {dropped.event!r}: too many pending"))
            wait = self.ack_timeout if timeout is None else float(timeout)
        msg: EmitMsg = {
            "kind": "emit",
            "event": event,
            "args": list(args),
            "ack": ack,
            "timeout": wait,
        }
        self._send_command(msg)

    def connect(self) -> None:
        """Open the browser's socket (again)."""
        self._send_command({"kind": "connect"})

    def disconnect(self) -> None:
        """Close the browser's socket; :meth:`connect` opens it again."""
        self._send_command({"kind": "disconnect"})

    @property
    def pending_acks(self) -> int:
        """How many acks the kernel is waiting for."""
        return len(self._pending)

    # ---------------------------------------------------------------- handlers

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...

    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: H | None = None) -> H | Callable[[H], H]:
        """Run ``handler(*args)`` in the kernel when the server emits ``event``.

        Use as ``@client.on("event")`` or ``client.on("event", handler)``. ``"*"`` gets
        every event as ``handler(event, *args)``. ``"connect"``, ``"disconnect"``
        (with the reason) and ``"connect_error"`` (with ``{"message", "data"}``) report
        the socket's life. When the server asked for an ack, the handler's return value
        is the ack (a tuple for several values; ``None`` for none).
        """
        check_event_name(event, allow_empty=False, allow_reserved=True)

        def register(fn: H) -> H:
            if not callable(fn):
                raise TypeError("handler must be callable")
            self._handlers.setdefault(event, []).append(fn)
            self._sync_listen()
            return fn

        if handler is None:
            return register
        return register(handler)

    def off(self, event: str, handler: Handler | None = None) -> None:
        """Remove ``handler`` for ``event``, or every handler of ``event``."""
        handlers = self._handlers.get(event, [])
        if handler is None:
            handlers.clear()
        else:
            self._handlers[event] = handlers = [h for h in handlers if h is not handler]
        if not handlers:
            self._handlers.pop(event, None)
        self._sync_listen()

    def _sync_listen(self) -> None:
        listen = sorted(self._handlers)
        if listen != list(self._listen):
            if listen:
                self._choose_page()  # that page opens a socket to listen with
            self._listen = listen

    # ---------------------------------------------------------------- pages

    def _asking_page(self) -> str:
        """The page whose request the kernel handles now (its session), or ``""``."""
        kernel = getattr(self.comm, "kernel", None)
        get_parent = getattr(kernel, "get_parent", None)
        if not callable(get_parent):
            return ""
        try:
            parent = get_parent()
        except Exception:
            return ""
        header = parent.get("header") if isinstance(parent, dict) else None
        session = header.get("session") if isinstance(header, dict) else None
        return session if isinstance(session, str) else ""

    def _choose_page(self) -> str:
        """Pick the page that speaks for the kernel (see the module docstring); return it."""
        asking = self._asking_page()
        if asking and asking in self._pages:
            page = asking
        elif self._driver in self._pages:
            page = self._driver
        elif self._pages:
            page = next(iter(self._pages))
        else:
            page = asking or self._driver
        self._set_driver(page)
        return page

    def _set_driver(self, page: str) -> None:
        if page != self._driver:
            self.set_trait("_driver", page)

    def _page_shows(self, page: str, shown: bool) -> None:
        if shown:
            self._pages.setdefault(page, None)
        else:
            self._pages.pop(page, None)
        if self._pages and self._driver not in self._pages:
            self._set_driver(next(iter(self._pages)))

    # ---------------------------------------------------------------- browser messages

    def _send_command(self, msg: Mapping[str, object]) -> None:
        """Send a command to the page that speaks for the kernel."""
        self._send_to_browser(msg, to=self._choose_page() or None)

    def _send_to_browser(self, msg: Mapping[str, object], *, to: str | None) -> None:
        content, buffers = deconstruct({**msg, "to": to})
        self.send(content, buffers=buffers or None)

    def _on_browser_msg(
        self, _widget: object, content: object, buffers: Sequence[bytes | memoryview] | None
    ) -> None:
        msg = reconstruct(content, buffers)
        if not isinstance(msg, dict):
            log.warning("ignoring a widget message that is not an object")
            return
        kind = msg.get("kind")
        args = msg.get("args")
        args = list(args) if isinstance(args, list) else []
        page = msg.get("page")
        page = page if isinstance(page, str) else ""
        if kind == "event" and isinstance(msg.get("event"), str):
            ack = msg.get("ack")
            ack = ack if isinstance(ack, int) else None
            if self._speaks(page):
                self._dispatch(msg["event"], args, ack, page)
            elif ack is not None:
                self._send_to_browser({"kind": "reply", "ack": ack, "args": []}, to=page)
        elif kind == "lifecycle" and msg.get("event") in LIFECYCLE_EVENTS:
            if self._speaks(page):
                self._dispatch(msg["event"], args, None, page)
        elif kind == "views" and page:
            self._page_shows(page, msg.get("shown") is True)
        elif kind == "ack" and isinstance(msg.get("ack"), int):
            self._resolve(msg["ack"], args, msg.get("error"))
        else:
            self._on_other_msg(msg)

    def _speaks(self, page: str) -> bool:
        """Whether events forwarded by ``page`` reach kernel handlers: only the driver's do."""
        return not page or not self._driver or page == self._driver

    def _on_other_msg(self, msg: dict[str, Any]) -> None:
        """Hook for subclasses' own message kinds."""
        log.debug("ignoring widget message of kind %r", msg.get("kind"))

    def _dispatch(self, event: str, args: list[object], ack: int | None, page: str) -> None:
        reply: list[object] = []
        answered = False
        for fn in list(self._handlers.get(event, ())):
            try:
                result = fn(*args)
            except Exception:
                _report(f"handler for {event!r}")
                continue
            if ack is not None and not answered:
                answered = True
                reply = ack_args(result)
        if event not in LIFECYCLE_EVENTS:
            for fn in list(self._handlers.get("*", ())):
                try:
                    fn(event, *args)
                except Exception:
                    _report("handler for '*'")
        if ack is not None:
            self._send_to_browser({"kind": "reply", "ack": ack, "args": reply}, to=page or None)

    def _resolve(self, ack: int, args: list[object], error: object) -> None:
        pending = self._pending.pop(ack, None)
        if pending is None:
            return  # answered already (another browser tab), or dropped
        if error is not None:
            exc: RealtimeError
            if error == "timeout":
                exc = AckTimeout(f"no ack for {pending.event!r} in time")
            else:
                exc = NotConnected(f"no ack for {pending.event!r}: {error}")
            self._fail(pending, exc)
            return
        if pending.callback is not None:
            try:
                pending.callback(*args)
            except Exception:
                _report(f"ack callback for {pending.event!r}")

    def _fail(self, pending: _PendingAck, exc: RealtimeError) -> None:
        if pending.on_error is None:
            log.warning("%s", exc)
            return
        try:
            pending.on_error(exc)
        except Exception:
            _report(f"error callback for {pending.event!r}")
