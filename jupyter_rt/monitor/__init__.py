"""A live view of a server on the reserved namespace ``/jupyter/monitor``, for the JupyterLab
"Realtime" panel (``c.RealtimeApp.monitor = True``, the default).

:func:`watch` serves it; in Jupyter only the server's own credentials may connect
(:mod:`jupyter_rt.monitor.jupyter`). What a watcher receives:

- ``snapshot`` when it connects: the view, plus ``interval`` (seconds between updates) and
  ``history``, the chart's samples since somebody started watching, ``[time, received, sent,
  sockets]`` each;
- ``update`` at most once per ``interval`` (0.5 s), only when something happened: ``time``,
  ``sockets`` and the events ``received`` and ``sent`` (once per recipient) since the last
  one; when sockets came, went, joined or left a room or upgraded, the whole view again.

The view: ``{time, clients, sockets, namespaceCount, namespaces: [{name, socketCount,
roomCount, sockets: [{id, transport, user}], rooms: [{name, members}]}]}``, this server's
sockets only (not a cluster's), the monitor namespace left out, lists bounded
(:data:`~jupyter_rt.monitor._monitor.MAX_LISTED`). ``time`` is on the server's clock, in
seconds; ``clients`` counts Engine.IO sessions (the watchers' own included), ``sockets`` the
sockets of every namespace but the monitor's. ``user`` is the Jupyter user's display name: no
handshake header, query, cookie, token or CONNECT payload is ever sent.

While nobody watches, the server pays nothing: the monitor observes the server
(:mod:`jupyter_rt.server.observer`) and runs its timer only while a watcher is connected.
"""

from __future__ import annotations

from jupyter_rt.monitor._monitor import MONITOR_NAMESPACE, Monitor, watch

__all__ = ["MONITOR_NAMESPACE", "Monitor", "watch"]
