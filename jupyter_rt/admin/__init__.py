"""The official Socket.IO Admin UI (npm ``@socket.io/admin-ui`` 0.5) for a jupyter_rt server.

:func:`instrument` serves the UI's protocol on a namespace (``/admin``); the UI (a static page,
served by the Jupyter extension at ``{base_url}socket.io/admin/`` with ``c.RealtimeApp.admin_ui
= True``) connects there. What the UI receives, all on the admin namespace:

- ``config {supportedFeatures}`` when it connects: ``EMIT``, ``JOIN``, ``LEAVE``,
  ``DISCONNECT`` and their ``M…`` forms unless read-only, ``AGGREGATED_EVENTS``, and
  ``ALL_EVENTS`` in development mode;
- ``server_stats {serverId, hostname, pid, uptime, clientsCount, pollingClientsCount,
  aggregatedEvents, namespaces}`` from every server of the cluster, every 2 s;
- development mode only: ``all_sockets [socket…]`` when it connects, then ``socket_connected
  (socket, time)``, ``socket_updated {id, nsp, transport}`` (an upgrade to WebSocket),
  ``socket_disconnected (nsp, id, reason, time)``, ``room_joined``/``room_left (nsp, room, id,
  time)``, ``event_received``/``event_sent (nsp, id, [event, …args], time)``.

A socket is shown as ``{id, clientId, transport, nsp, data, handshake, rooms}``: the handshake
without the CONNECT ``auth`` and with every credential masked (:mod:`jupyter_rt._redact`),
``clientId`` a digest of the Engine.IO session id (never the id itself, a capability), values
bounded (long strings cut, binary described). What an admin may ask when not read-only:
``join (nsp, room, [room filter])``, ``leave (…)``, ``_disconnect (nsp, close, [room
filter])``, ``emit (nsp, room filter, event, …args)``; only existing namespaces are acted on,
and each action is logged on ``jupyter_rt.admin``.

Reports travel through the admin namespace's adapter, as in Node: with Redis, every server's
reports reach every admin socket of the servers sharing the channel prefix.
"""

from __future__ import annotations

from jupyter_rt.admin._counts import EventCounts
from jupyter_rt.admin._instrument import AdminUI, Mode, instrument

__all__ = ["AdminUI", "EventCounts", "Mode", "instrument"]
