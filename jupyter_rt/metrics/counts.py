"""What a server did, counted in plain integers by an :class:`~jupyter_rt.server.Observer`.

The hooks run in the middle of the server's work, once per message or event: each one adds to an
integer or two and does nothing else (no lock, no label lookup past a dictionary ``get``). The
Prometheus side (:mod:`jupyter_rt.metrics.collector`) reads the integers when it is scraped.

Labels stay few: a namespace is labelled with its own name when the server serves it under that
name (``io.of("/chat")``, a kernel-hosted one), with its pattern's name for a dynamic child
(``<dynamic ^/doc-\\w+$>``, never the name a client chose), and past
:data:`MAX_NAMESPACE_LABELS` namespaces with ``"other"``. Rooms, socket ids, users and event
names are never labels.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from jupyter_rt.server import Observer

if TYPE_CHECKING:
    from jupyter_rt.server import Namespace, Server, Socket
    from jupyter_rt.server.connection import Connection

__all__ = [
    "HANDLER_BUCKETS",
    "MAX_NAMESPACE_LABELS",
    "OTHER",
    "Counts",
    "NamespaceCounts",
]

MAX_NAMESPACE_LABELS = 32
"""Namespace label values kept apart; the namespaces past them are counted as :data:`OTHER`."""

OTHER = "other"
"""The label of what is past a cap."""

HANDLER_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the handler time histogram's buckets, then ``+Inf``."""

TIMED = frozenset({"handler", "catch-all handler"})
"""The app code whose time the histogram shows: what runs for a client's event."""

_CACHE_SIZE = 1024
"""Namespaces (dynamic children included) whose counts are found by a ``get``; past it the
cache starts again (children come and go, the cache must not keep them)."""


class NamespaceCounts:
    """The counts of one namespace label, since the server started."""

    __slots__ = (
        "ack_timeouts",
        "broadcasts",
        "deliveries",
        "events_received",
        "events_sent",
        "handler_buckets",
        "handler_seconds",
        "label",
        "refused",
    )

    def __init__(self, label: str) -> None:
        self.label = label
        self.events_received = 0
        self.events_sent = 0
        """Event packets sent, once per recipient (emits and broadcasts)."""
        self.broadcasts = 0
        self.deliveries = 0
        """Recipients of the broadcasts."""
        self.ack_timeouts = 0
        self.refused: dict[str, int] = {}
        """Refused CONNECTs by reason (the server's own short list)."""
        self.handler_buckets = [0] * (len(HANDLER_BUCKETS) + 1)
        """Event handlers that ran, by the bucket of their time (not cumulative; the last is
        ``+Inf``)."""
        self.handler_seconds = 0.0


class Counts(Observer):
    """Counts what ``io`` does; ``io.add_observer(counts)`` starts it.

    ``handshakes`` (by transport), ``received_bytes`` (every Socket.IO message and binary
    attachment clients sent, UTF-8 bytes) and ``sent_bytes`` (the event packets sent, once per
    recipient) are the server's; the rest is per namespace label (:meth:`namespaces`).
    """

    def __init__(self, io: Server) -> None:
        self._io = io
        self.handshakes: dict[str, int] = {}
        self.received_bytes = 0
        self.sent_bytes = 0
        self._labels: dict[str, NamespaceCounts] = {}
        self._by_nsp: dict[Namespace, NamespaceCounts] = {}
        self._by_name: dict[str, NamespaceCounts] = {}
        self._unserved = NamespaceCounts("")
        """CONNECTs refused before any namespace served them (label ``""``)."""

    # -- labels -------------------------------------------------------------------------------

    def label(self, nsp: Namespace) -> str:
        """The label of ``nsp``: its name, its dynamic parent's, or :data:`OTHER`."""
        return self._of(nsp).label

    def _of(self, nsp: Namespace) -> NamespaceCounts:
        counts = self._by_nsp.get(nsp)
        if counts is None:
            parent = nsp.parent
            counts = self._labelled(nsp.name if parent is None else parent.name)
            if len(self._by_nsp) >= _CACHE_SIZE:
                self._by_nsp.clear()
            self._by_nsp[nsp] = counts
        return counts

    def _labelled(self, label: str) -> NamespaceCounts:
        counts = self._labels.get(label)
        if counts is None:
            if len(self._labels) >= MAX_NAMESPACE_LABELS:
                label = OTHER
                counts = self._labels.get(OTHER)
            if counts is None:
                counts = self._labels[label] = NamespaceCounts(label)
        return counts

    def _named(self, name: str) -> NamespaceCounts:
        counts = self._by_name.get(name)
        if counts is None:
            nsp = self._io.namespace(name)
            if nsp is None:  # gone since (a dynamic child left empty): not cached
                return self._labelled(OTHER)
            counts = self._of(nsp)
            if len(self._by_name) >= _CACHE_SIZE:
                self._by_name.clear()
            self._by_name[name] = counts
        return counts

    def namespaces(self) -> dict[str, NamespaceCounts]:
        """The counts by namespace label (``""``: CONNECTs refused for no served namespace)."""
        out = dict(self._labels)
        out[""] = self._unserved
        return out

    # -- observer hooks -----------------------------------------------------------------------

    def session_opened(self, session: Connection) -> None:
        transport = session.transport
        self.handshakes[transport] = self.handshakes.get(transport, 0) + 1

    def message_received(self, session: Connection, data: str | bytes) -> None:
        size = len(data)
        if type(data) is str and not data.isascii():
            size = len(data.encode("utf-8", "surrogatepass"))
        self.received_bytes += size

    def event_received(self, socket: Socket, data: list[Any]) -> None:
        self._of(socket.nsp).events_received += 1

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        count = len(recipients)
        self._of(nsp).events_sent += count
        self.sent_bytes += count * _size(frames)

    def broadcast_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        count = len(recipients)
        counts = self._of(nsp)
        counts.broadcasts += 1
        counts.deliveries += count
        counts.events_sent += count
        self.sent_bytes += count * _size(frames)

    def connect_refused(self, nsp: Namespace | None, reason: str) -> None:
        refused = (self._unserved if nsp is None else self._of(nsp)).refused
        refused[reason] = refused.get(reason, 0) + 1

    def ack_timed_out(self, nsp: Namespace) -> None:
        self._of(nsp).ack_timeouts += 1

    def handler_finished(self, nsp: str, what: str, seconds: float) -> None:
        if what in TIMED:
            counts = self._named(nsp)
            counts.handler_buckets[bisect.bisect_left(HANDLER_BUCKETS, seconds)] += 1
            counts.handler_seconds += seconds


def _size(frames: Sequence[str | bytes]) -> int:
    """The UTF-8 bytes of ``frames`` (text frames are nearly always ASCII: their length)."""
    size = 0
    for frame in frames:
        if type(frame) is str and not frame.isascii():
            size += len(frame.encode("utf-8", "surrogatepass"))
        else:
            size += len(frame)
    return size
