"""The Admin UI in a Jupyter server: the page at ``{base_url}socket.io/admin/`` and who may
use the ``/admin`` namespace (``c.RealtimeApp.admin_ui = True``).

The page is the npm package's prebuilt UI (copied to ``jupyter_rt/static/admin-ui/`` at build
time, its web fonts bundled), served behind Jupyter's login like any page of the server, with a
policy that lets it load nothing from another origin; ``jupyter-rt-admin.js``, written here,
points it at this server before it starts (the UI keeps its connection form in
``localStorage``: server URL, path, namespace) and adds the ``X-XSRFToken`` header to its
long-polling POSTs, which Jupyter asks of cookie-authenticated requests.

Who is an admin (:class:`AdminAccess`): a connection opened with this server's own token
(``?token=`` or ``Authorization: token``, the token ``jupyter server list`` shows and
``jupyter_rt.client`` finds), or with the login cookie of a user to whom this server served the
UI page (Jupyter's authorizer allowed them ``read`` on the resource ``realtime-admin``).
Nobody else: not another token Jupyter accepts (a JupyterHub token of another user), not a
server without auth, and the admin-ui's own username/password is ignored.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.handlers import token_credential
from jupyter_rt.server import Socket

__all__ = [
    "ADMIN_RESOURCE",
    "ADMIN_UI_DIR",
    "AdminAccess",
    "AdminUIConfigHandler",
    "AdminUIHandler",
    "admin_handlers",
]

log = logging.getLogger("jupyter_rt.admin")

ADMIN_RESOURCE = "realtime-admin"
"""The resource a custom Jupyter authorizer sees for the Admin UI page (action ``read``)."""
ADMIN_UI_DIR = Path(__file__).resolve().parent.parent / "static" / "admin-ui"
"""The UI's build (made by ``labextension/scripts/copy-admin-ui.js``)."""
CONFIG_SCRIPT = "jupyter-rt-admin.js"
MAX_GRANTS = 256
"""Users remembered as admins (the least recent are forgotten first)."""

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Vuetify writes its theme in a <style>
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)


class AdminAccess:
    """Decides who may connect to the admin namespace: its :meth:`middleware` admits the
    server's own token and the users :meth:`grant` names (see the module docstring)."""

    def __init__(self, server_token: str) -> None:
        self._token = token_credential(server_token) if server_token else None
        self._users: OrderedDict[str, None] = OrderedDict()

    def grant(self, username: str) -> None:
        """``username`` was served the UI page: its login cookie may open the admin namespace."""
        self._users[username] = None
        self._users.move_to_end(username)
        while len(self._users) > MAX_GRANTS:
            self._users.popitem(last=False)

    def allows(self, credential: str | None) -> bool:
        """Whether a connection opened with ``credential`` (the session's) is an admin's."""
        if credential is None:
            return False
        if credential.startswith("token:"):
            return self._token is not None and hmac.compare_digest(credential, self._token)
        if credential.startswith("user:"):
            return credential[len("user:") :] in self._users
        return False

    # What a refusal says; a subclass guarding another namespace changes them.
    service = "the Admin UI"
    """What the namespace is called in a refusal."""
    first_step = "open the Admin UI page first"
    """How a logged-in user gets in."""
    refused = "an Admin UI connection"
    """What the log calls a refused connection."""
    refusal_log = log

    def middleware(self, socket: Socket) -> None:
        """The namespace's middleware: refuses anyone but the server's own credentials, with
        the reason logged (no credential in it)."""
        # What the Jupyter handler bound the session to; a connection without one (a kernel's
        # tunnel, say) is nobody's.
        credential: str | None = getattr(socket.conn, "credential", None)
        if self.allows(credential):
            return
        if credential is None:
            why = f"{self.service} needs Jupyter auth (a token or a password)"
        elif credential.startswith("token:"):
            why = f"only this server's own token opens {self.service}"
        else:
            why = self.first_step
        address = socket.handshake.address
        self.refusal_log.warning("Refused %s from %s: %s", self.refused, address, why)
        raise ConnectionRefused(f"not authorized: {why}")


class AdminUIHandler(JupyterHandler, web.StaticFileHandler):
    """``{base_url}socket.io/admin/…``: the UI's files, for logged-in users only."""

    auth_resource = ADMIN_RESOURCE

    def initialize(self, path: str, access: AdminAccess) -> None:  # type: ignore[override]
        web.StaticFileHandler.initialize(self, path, default_filename="index.html")
        self.access = access

    @property
    def content_security_policy(self) -> str:
        if "Content-Security-Policy" in self.settings.get("headers", {}):
            return str(super().content_security_policy)  # the server's own, if configured
        return CONTENT_SECURITY_POLICY

    @web.authenticated
    @authorized
    async def get(self, path: str, include_body: bool = True) -> None:  # type: ignore[override]
        if not ADMIN_UI_DIR.is_dir():
            raise web.HTTPError(404, "the Admin UI was not built with this package")
        if path in ("", "index.html"):
            user = self.current_user
            if user is not None:
                self.access.grant(user.username)
            self.xsrf_token  # noqa: B018 - sets the _xsrf cookie the page's POSTs send back
        await web.StaticFileHandler.get(self, path, include_body)

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")  # revalidated; 304 when unchanged

    def compute_etag(self) -> str | None:
        return web.StaticFileHandler.compute_etag(self)


class AdminUIConfigHandler(JupyterHandler):
    """``{base_url}socket.io/admin/jupyter-rt-admin.js``: points the UI at this server."""

    auth_resource = ADMIN_RESOURCE

    def initialize(self, namespace: str) -> None:
        self.namespace = namespace

    @web.authenticated
    @authorized
    def get(self) -> None:
        config = {"path": url_path_join(self.base_url, "socket.io"), "namespace": self.namespace}
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(_CONFIG_JS.replace("CONFIG", json.dumps(config)))


# The UI reads its connection form from localStorage at start (ui/src/store/modules/
# connection.js: server_url, path, namespace, parser, ws_only, session_id) and connects at once
# when server_url is set. Its long-polling POSTs go through XMLHttpRequest.
_CONFIG_JS = """\
// Points the Socket.IO Admin UI at the Jupyter server that serves it (jupyter_rt).
(function () {
  "use strict";
  var config = CONFIG;
  try {
    localStorage.setItem("server_url", window.location.origin);
    localStorage.setItem("path", config.path);
    localStorage.setItem("namespace", config.namespace);
    localStorage.setItem("parser", "default");
    localStorage.removeItem("session_id");
  } catch (e) {
    // no localStorage: the UI asks for the server in its form
  }
  function xsrf() {
    var match = document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : null;
  }
  var open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    open.apply(this, arguments);
    var target = new URL(url, window.location.href);
    var token = xsrf();
    if (String(method).toUpperCase() === "POST" && token &&
        target.origin === window.location.origin && target.pathname.indexOf(config.path) === 0) {
      this.setRequestHeader("X-XSRFToken", token);
    }
  };
})();
"""


def admin_handlers(
    base_url: str, access: AdminAccess, namespace: str = "/admin"
) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """The Tornado routes of the UI (``base_url`` prepended), for ``web_app.add_handlers``."""
    root = url_path_join(base_url, "socket.io", "admin")
    pattern = re.escape(root)
    return [
        (pattern, web.RedirectHandler, {"url": root + "/"}),
        (f"{pattern}/{re.escape(CONFIG_SCRIPT)}", AdminUIConfigHandler, {"namespace": namespace}),
        (pattern + "/(.*)", AdminUIHandler, {"path": str(ADMIN_UI_DIR), "access": access}),
    ]
