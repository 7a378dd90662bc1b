"""Deprecated: the Redis emitter lives in :mod:`jupyter_rt.adapters.redis` now.

``from jupyter_rt.adapters.redis import Emitter, SyncEmitter``; importing this module warns
(``DeprecationWarning``) and gives the same classes.
"""

from __future__ import annotations

import warnings

from jupyter_rt.adapters.redis.emitter import Emitter, SyncEmitter

__all__ = ["Emitter", "SyncEmitter"]

warnings.warn(
    "jupyter_rt.emitter is deprecated; import Emitter and SyncEmitter from "
    "jupyter_rt.adapters.redis",
    DeprecationWarning,
    stacklevel=2,
)
