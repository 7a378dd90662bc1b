"""Adapters that share rooms and broadcasts between servers.

:mod:`jupyter_rt.adapters.redis` holds the Redis adapter, its wire format (that of Node's
``@socket.io/redis-adapter``, in :mod:`jupyter_rt.adapters.redis.wire`) and the emitter for
processes with no sockets.
"""

from __future__ import annotations
