"""The monitor in a Jupyter server: who may watch, and the panel's door to the namespace.

Who may watch is decided as for the Admin UI (:class:`~jupyter_rt.admin.jupyter.AdminAccess`):
a connection opened with this server's own token, or with the login cookie of a user to whom
``GET {base_url}socket.io/monitor`` answered (Jupyter's authorizer allowed them ``read`` on the
resource ``realtime-monitor``). The JupyterLab panel asks there first; the answer tells it the
namespace and the Engine.IO path. The two grants are separate: watching opens no Admin UI.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from jupyter_rt.admin.jupyter import AdminAccess
from jupyter_rt.monitor._monitor import MONITOR_NAMESPACE

__all__ = ["MONITOR_RESOURCE", "MonitorAccess", "MonitorDoorHandler", "monitor_handlers"]

log = logging.getLogger("jupyter_rt.monitor")

MONITOR_RESOURCE = "realtime-monitor"
"""The resource a custom Jupyter authorizer sees for the panel's door (action ``read``)."""


class MonitorAccess(AdminAccess):
    """Admits the server's own token and the users :meth:`grant` names to the monitor."""

    service = "the realtime monitor"
    first_step = "ask GET socket.io/monitor first"
    refused = "a monitor connection"
    refusal_log = log


class MonitorDoorHandler(JupyterHandler):
    """``GET {base_url}socket.io/monitor``: lets the logged-in user watch; answers
    ``{"namespace", "path"}`` (where to connect)."""

    auth_resource = MONITOR_RESOURCE

    def initialize(self, access: MonitorAccess, namespace: str) -> None:
        self.access = access
        self.namespace = namespace

    @web.authenticated
    @authorized
    def get(self) -> None:
        user = self.current_user
        if user is not None and not self.token_authenticated:
            self.access.grant(user.username)
        self.set_header("Cache-Control", "no-store")
        self.finish(
            {"namespace": self.namespace, "path": url_path_join(self.base_url, "socket.io")}
        )


def monitor_handlers(
    base_url: str, access: MonitorAccess, namespace: str = MONITOR_NAMESPACE
) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """The Tornado route of the door (``base_url`` prepended), for ``web_app.add_handlers``."""
    pattern = re.escape(url_path_join(base_url, "socket.io", "monitor"))
    return [(pattern, MonitorDoorHandler, {"access": access, "namespace": namespace})]
