"""Tables that give their memory back: a dict or set keeps the table of its largest size until
it is rebuilt, so one keyed by connection would hold a crowd's worth of slots after it left."""

from __future__ import annotations

from typing import Any

SHRINK_FROM = 1024
"""Below this peak a table is left alone (its slots are a few KiB)."""


class Shrinker:
    """Watches one dict (or set) keyed by connection: call :meth:`grew` after an insert and
    :meth:`shrunk` after a removal; once the table is down to an eighth of its peak, it is
    rebuilt in place (same object, same contents) with a table of its size. Amortised O(1)."""

    __slots__ = ("peak",)

    def __init__(self) -> None:
        self.peak = 0

    def grew(self, size: int) -> None:
        if size > self.peak:
            self.peak = size

    def shrunk(self, table: dict[Any, Any] | set[Any]) -> bool:
        """Rebuild ``table`` if it is down to an eighth of its peak; ``True`` if it was."""
        size = len(table)
        if self.peak < SHRINK_FROM or size > self.peak // 8:
            return False
        kept = table.copy()
        table.clear()  # frees the old table
        table.update(kept)
        self.peak = size
        return True
