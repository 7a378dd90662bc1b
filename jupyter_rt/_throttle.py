"""Log lines a peer can cause as often as it likes, written at most once per interval per kind.

Any layer may use it (it imports nothing of jupyter_rt)::

    throttle = LogThrottle(log)                      # 60 s, time.monotonic
    throttle.log(logging.WARNING, ("limit", kind), "Limit %s hit", kind)

The first record of a key is written; the next ones within ``interval`` seconds go to debug,
without traceback, and the next written one says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any

__all__ = ["LogThrottle"]


class LogThrottle:
    """At most one record per key per ``interval`` seconds on ``logger``.

    ``clock`` returns seconds (monotonic; inject a fake one in tests). At most ``max_keys``
    keys are remembered, the least recently logged are forgotten first, so keys built from
    peer-chosen values cannot grow memory.
    """

    __slots__ = ("_keys", "clock", "interval", "logger", "max_keys")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self._keys: OrderedDict[Hashable, list[float]] = OrderedDict()  # key -> [last, held]

    def allow(self, key: Hashable) -> int | None:
        """``None`` if ``key`` was allowed less than ``interval`` ago (counted as held back);
        else the number held back since, and the key's interval starts again now."""
        now = self.clock()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return None
        held = int(entry[1]) if entry is not None else 0
        self._keys[key] = [now, 0]
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
        return held

    def log(
        self,
        level: int,
        key: Hashable,
        msg: str,
        *args: Any,
        exc_info: BaseException | bool | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> bool:
        """Log ``msg % args`` at ``level`` if ``key`` is allowed; else at debug, without
        traceback. ``extra`` become attributes of the record. Returns whether it was logged
        at ``level``."""
        held = self.allow(key)
        if held is None:
            self.logger.debug(msg, *args, extra=extra)
            return False
        if held:
            msg += f" ({held} more like it since the last one, not logged)"
        self.logger.log(level, msg, *args, exc_info=exc_info, extra=extra)
        return True
