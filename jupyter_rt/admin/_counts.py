"""The aggregated events of ``server_stats``: counts per second, as the admin-ui charts them."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from jupyter_rt.server import Observer

if TYPE_CHECKING:
    from jupyter_rt.protocol.events import Reason
    from jupyter_rt.server import Namespace, Socket
    from jupyter_rt.server.connection import Connection

__all__ = ["EventCounts"]

MAX_KEYS = 4096
"""Distinct (second, type, subtype) counts kept between two drains; more are dropped."""


class EventCounts(Observer):
    """Counts what the admin-ui's dashboard charts, per wall-clock second: ``rawConnection``,
    ``rawDisconnection`` (by reason), ``packetsIn``/``bytesIn`` (Engine.IO messages received;
    text counted in characters) and ``packetsOut``/``bytesOut`` (event packets sent, once per
    recipient). :meth:`drain` hands them over in the ``aggregatedEvents`` shape.

    The per-message hooks only add to four integers, which :meth:`drain` stamps with its own
    second (the UI charts 10-second buckets); connections and disconnections are stamped as
    they happen. ``wall`` is the clock (``time.time``).
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._counts: dict[tuple[int, str, str | None], int] = {}
        self._packets_in = 0
        self._bytes_in = 0
        self._packets_out = 0
        self._bytes_out = 0

    def _add(self, second: int, kind: str, count: int, sub: str | None = None) -> None:
        key = (second, kind, sub)
        counts = self._counts
        if key in counts:
            counts[key] += count
        elif len(counts) < MAX_KEYS:
            counts[key] = count

    def _roll(self, second: int) -> None:
        """Move the running counts into the table, at ``second``."""
        for kind, count in (
            ("packetsIn", self._packets_in),
            ("bytesIn", self._bytes_in),
            ("packetsOut", self._packets_out),
            ("bytesOut", self._bytes_out),
        ):
            if count:
                self._add(second, kind, count)
        self._packets_in = self._bytes_in = self._packets_out = self._bytes_out = 0

    def drain(self) -> list[dict[str, Any]]:
        """The counts since the last drain, oldest first, and start again."""
        self._roll(int(self._wall()))
        out = []
        for (second, kind, sub), count in sorted(self._counts.items(), key=_order):
            item: dict[str, Any] = {"timestamp": second * 1000, "type": kind, "count": count}
            if sub is not None:
                item["subType"] = sub
            out.append(item)
        self._counts = {}
        return out

    # -- observer hooks -----------------------------------------------------------------------

    def session_opened(self, session: Connection) -> None:
        self._add(int(self._wall()), "rawConnection", 1)

    def session_closed(self, session: Connection, reason: Reason) -> None:
        self._add(int(self._wall()), "rawDisconnection", 1, str(reason))

    def message_received(self, session: Connection, data: str | bytes) -> None:
        self._packets_in += 1
        self._bytes_in += len(data)

    def event_sent(
        self,
        nsp: Namespace,
        data: list[Any],
        frames: Sequence[str | bytes],
        recipients: Sequence[Socket],
    ) -> None:
        count = len(recipients)
        if len(frames) == 1:
            self._packets_out += count
            self._bytes_out += count * len(frames[0])
        else:
            self._packets_out += count * len(frames)
            self._bytes_out += count * sum(len(frame) for frame in frames)


def _order(item: tuple[tuple[int, str, str | None], int]) -> tuple[int, str, str]:
    (second, kind, sub), _ = item
    return second, kind, sub or ""
