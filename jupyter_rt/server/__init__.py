"""The Socket.IO server layer: namespaces, sockets, rooms, acks, middleware, adapters.

It sits on Engine.IO sessions (:class:`Server` is the engine's listener) and knows nothing of
Tornado or Jupyter. Handlers and middleware may be sync or async; emits are sent at once and may
be awaited or not.

The modules import one another one way (an arrow: "imports at run time"; annotations of the
other direction are under ``TYPE_CHECKING``)::

    server
      ├─▶ client ─▶ socket ─┬─▶ remote ─▶ broadcast ─▶ adapter ─▶ _util
      │     │               ├─▶ broadcast
      │     │               ├─▶ recovery ─▶ adapter
      │     │               └─▶ handshake
      │     └─▶ handshake, recovery
      ├─▶ recovery
      └─▶ namespace ─▶ broadcast, adapter
    server ─▶ observer   (the Observer hooks; imports no other server module)

and below them only ``jupyter_rt.protocol`` (the packets; ``protocol.events`` holds the event
rules every layer shares), ``jupyter_rt.clock``, ``jupyter_rt._tasks`` and ``jupyter_rt.errors``.
``connection`` holds the two protocols the layer is written against (for annotations): a
:class:`Connection` (what the server uses of an Engine.IO session; the kernel side of a hosted
namespace implements it over its tunnel) and a :class:`NamespaceHost`. Going back up, the
objects know each other (as in Node) through public methods documented as the server's internal
API, never private members:

- :class:`Server` (the engine's listener) → its ``Client`` per session: ``receive(data)``,
  ``on_close(reason)``, ``close(reason)``.
- :class:`~jupyter_rt.server.client.Client` (one Engine.IO session) → :class:`Socket`:
  ``start(queued)``, ``receive(packet)``, ``on_close(reason)``; → :class:`Namespace`:
  ``middleware_chain()``, ``connecting_started()``, ``connecting_ended(socket)``;
  → :class:`Server`: ``namespace_for(name)``, ``forget_client(client)``, ``tasks``.
- :class:`Adapter` → :class:`Socket`: ``deliver(frames, volatile)``, ``expect_ack(id, cb)``;
  → :class:`Namespace`: ``next_ack_id()``, ``sockets``.
- :class:`Socket` → its ``Client``: ``remove_socket``, ``disconnect_all``, ``check_queue``;
  → :class:`Namespace`: ``connection_handlers()``, ``remove_socket``, ``adapter``.
- :class:`Namespace` → :class:`Server`: ``adapter_factory``, ``tasks``,
  ``forget_namespace(child)``; cluster adapters → :class:`Namespace`:
  ``on_server_side_emit(packet, ack)``.
- Connection state recovery (:mod:`~jupyter_rt.server.recovery`): :class:`Socket` →
  :class:`Adapter`: ``persist_session(session)`` when it loses its connection; ``Client`` →
  :class:`Adapter`: ``restore_session(pid, offset)`` for a CONNECT asking to recover.
- Observation (:mod:`~jupyter_rt.server.observer`): ``Server.observer`` is ``None`` or the
  :class:`Observers` that :meth:`Server.add_observer` set; every module that does something an
  observer hears of checks it first and calls one hook: :class:`Server` →
  ``session_opened``, ``message_received``, ``session_closed``; :class:`Socket` →
  ``socket_connected`` (in ``start``), ``event_received`` (in dispatch), ``event_sent`` (its
  emits), ``socket_disconnected`` (end of ``on_close``); :class:`Adapter` → ``room_joined``,
  ``room_left`` (``add_all``, ``delete``, ``delete_all``), ``broadcast_sent``
  (``broadcast_local``, ``broadcast_with_ack_local``); ``Client`` → ``connect_refused``;
  ``Socket.call`` and ``BroadcastOperator.call`` → ``ack_timed_out``; ``call_handler`` →
  ``handler_finished``, through ``TaskGroup.observer`` (kept in step with ``Server.observer``
  by ``add_observer``). ``Server.sessions`` lists the open Engine.IO sessions.
- A namespace served elsewhere (a kernel's, through ``jupyter_rt.kernel``) has
  ``Namespace.host`` set: the ``Client`` hands it that name's CONNECT
  (``host.connect(client, name, auth)``), records it in ``Client.hosted`` and routes the name's
  later packets to ``host.receive(client, packet)`` (only clients with a hosted name pay the
  check); at close it calls ``host.client_closed(client, name, reason)``. The host answers on
  ``client.session`` and calls ``client.forget_host(name)`` when it gives the name up. Such
  namespaces are made outside ``Server.of`` and registered with ``Server.attach_namespace``
  (``Server.parent_for`` tells whether a name would be a dynamic namespace's child);
  ``Namespace.reset()`` and ``Socket.remove_all_listeners()`` let code define a namespace again.
- Timers (ack timeouts, recovery's expiry) run on ``Server.clock`` (:mod:`jupyter_rt.clock`).
"""

from __future__ import annotations

from jupyter_rt.protocol.events import DisconnectReason
from jupyter_rt.server.adapter import (
    Adapter,
    BroadcastFlags,
    BroadcastOptions,
    MemoryAdapter,
    Session,
    SessionToPersist,
)
from jupyter_rt.server.broadcast import BroadcastOperator
from jupyter_rt.server.connection import Connection, ConnectionHandshake, NamespaceHost
from jupyter_rt.server.namespace import Middleware, Namespace, ParentNamespace
from jupyter_rt.server.observer import Observer, Observers
from jupyter_rt.server.recovery import RecoveryStore, SessionAwareAdapter
from jupyter_rt.server.server import AdapterFactory, Server
from jupyter_rt.server.socket import (
    RemoteSocket,
    Socket,
    SocketHandle,
    SocketHandshake,
)

__all__ = [
    "Adapter",
    "AdapterFactory",
    "BroadcastFlags",
    "BroadcastOperator",
    "BroadcastOptions",
    "Connection",
    "ConnectionHandshake",
    "DisconnectReason",
    "MemoryAdapter",
    "Middleware",
    "Namespace",
    "NamespaceHost",
    "Observer",
    "Observers",
    "ParentNamespace",
    "RecoveryStore",
    "RemoteSocket",
    "Server",
    "Session",
    "SessionAwareAdapter",
    "SessionToPersist",
    "Socket",
    "SocketHandle",
    "SocketHandshake",
]
