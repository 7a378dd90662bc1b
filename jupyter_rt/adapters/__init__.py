"""Adapters that share rooms and broadcasts between servers.

:mod:`jupyter_rt.adapters.redis` holds the Redis adapter; its wire format (that of Node's
``@socket.io/redis-adapter``) is in :mod:`jupyter_rt.adapters.redis_wire`.
"""

from __future__ import annotations
