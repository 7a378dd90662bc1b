"""Scale out with Redis: rooms and broadcasts across processes, like Node's redis adapter.

::

    io = jupyter_rt.Server(adapter=RedisAdapter.factory("redis://localhost:6379/0"))
    ...
    await io.ready()   # once the loop runs: subscribed, counted in the cluster

Every server publishes what must reach other servers on Redis pub/sub channels and subscribes to
what concerns it, in the wire format of Node's ``@socket.io/redis-adapter`` 8 (``createAdapter``,
see :mod:`jupyter_rt.adapters.redis.wire`): Node ``socket.io`` servers using that adapter, Node's
``@socket.io/redis-emitter`` and :class:`Emitter` (emit from a process with no sockets) share
rooms with jupyter_rt servers under the same prefix (default ``socket.io``).

Across servers: broadcasts (``to``, ``except_``, ``socket.broadcast``), broadcasts with acks
(``call``), ``sockets_join``/``sockets_leave``, ``disconnect_sockets``, ``fetch_sockets`` (remote
sockets come back as :class:`~jupyter_rt.server.RemoteSocket`), ``server_side_emit`` and
``server_side_call`` (Node's ``serverSideEmitWithAck``), ``adapter.all_rooms()``. Requests that
wait for other servers' answers time out after ``request_timeout`` seconds
(:class:`ClusterTimeout`). Messages are msgpack data only; malformed or foreign messages on the
channels are dropped with a rate-limited warning.

Outages. Redis pub/sub delivers at most once and jupyter_rt adds no queue in Redis, so:

- While Redis is unreachable each server keeps serving its own sockets: local emits, broadcasts,
  acks and rooms work as without a cluster.
- What other servers should have received meanwhile is lost, not replayed later: broadcasts,
  joins, leaves and disconnects aimed at remote sockets, server-side emits, acks of remote
  clients. One error is logged when the outage starts and one warning when Redis is back (with
  how many messages were dropped), not one line per message.
- Requests that need answers (``fetch_sockets``, ``call``, ``server_side_call``,
  ``adapter.all_rooms()``) raise :class:`RedisUnavailable` at once.
- Subscriptions are made again by themselves (retrying with a backoff up to 2 s); what was
  published between Redis coming back and a server re-subscribing is lost for that server. An
  idle subscription is PINGed every ``health_check_interval`` seconds, so a Redis that hangs or
  vanishes without closing the connection is noticed too.
- Room membership lives in each server's memory, never in Redis: nothing needs resyncing.

Connection state recovery across servers needs the other adapter,
:class:`RedisStreamsAdapter` (:mod:`~jupyter_rt.adapters.redis.streams`, Node's
``@socket.io/redis-streams-adapter``): broadcasts in a Redis stream, sessions in Redis keys.

Security: anyone who can publish on these channels can send events to every client, so Redis
must be private to the deployment; pick a ``prefix`` per deployment sharing a Redis. Messages
are data (msgpack, and JSON from Node), never code. Socket handshakes sent in ``fetch_sockets``
answers leave out cookies, authorization headers and ``token`` query arguments (and mask them
in ``url``), by the rule of :mod:`jupyter_rt._redact`.

The package, by layer: :mod:`~jupyter_rt.adapters.redis.wire` (the messages, pure),
:mod:`~jupyter_rt.adapters.redis.link` (one server's Redis connection: publish, subscribe,
outages), :mod:`~jupyter_rt.adapters.redis.requests` (requests awaiting answers, timeouts),
:mod:`~jupyter_rt.adapters.redis.adapter` (:class:`RedisAdapter`),
:mod:`~jupyter_rt.adapters.redis.factory` (:class:`RedisAdapterFactory`, the settings) and
:mod:`~jupyter_rt.adapters.redis.emitter` (:class:`Emitter`, :class:`SyncEmitter`); for
Streams, :mod:`~jupyter_rt.adapters.redis.streams_wire`,
:mod:`~jupyter_rt.adapters.redis.stream_link`, :mod:`~jupyter_rt.adapters.redis.streams` and
:mod:`~jupyter_rt.adapters.redis.streams_factory`.
"""

from __future__ import annotations

from jupyter_rt.adapters.redis.adapter import RedisAdapter
from jupyter_rt.adapters.redis.emitter import Emitter, SyncEmitter
from jupyter_rt.adapters.redis.factory import RedisAdapterFactory
from jupyter_rt.adapters.redis.streams import RedisStreamsAdapter
from jupyter_rt.adapters.redis.streams_factory import RedisStreamsAdapterFactory
from jupyter_rt.adapters.redis.wire import DEFAULT_PREFIX
from jupyter_rt.errors import ClusterError, ClusterTimeout, RedisUnavailable

__all__ = [
    "DEFAULT_PREFIX",
    "ClusterError",
    "ClusterTimeout",
    "Emitter",
    "RedisAdapter",
    "RedisAdapterFactory",
    "RedisStreamsAdapter",
    "RedisStreamsAdapterFactory",
    "RedisUnavailable",
    "SyncEmitter",
]
