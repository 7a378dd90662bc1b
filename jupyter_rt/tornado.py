"""Deprecated home of the Tornado transports: use :mod:`jupyter_rt.transports`.

``jupyter_rt.tornado.mount`` and the other names still work, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import warnings
from typing import Any

from jupyter_rt import transports

_MOVED = frozenset(transports.__all__)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"jupyter_rt.tornado.{name} moved to jupyter_rt.transports.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(transports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
