"""The Engine.IO endpoint and the browser client bundle, behind Jupyter's auth.

Every request needs what any Jupyter request needs: a token (``?token=`` or ``Authorization:
token …``) or the login cookie, and with the cookie a polling POST needs the ``X-XSRFToken``
header. WebSocket origins follow ``allow_origin`` / ``allow_origin_pat``. A session is bound to
the token, or to the logged-in user, that opened it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web

from jupyter_rt.transports import EngineIOHandler

AUTH_RESOURCE = "realtime"
"""The resource name custom Jupyter authorizers see (``read`` for GET, ``write`` for POST)."""
CLIENT_BUNDLE = Path(__file__).parent / "static" / "socket.io.min.js"


def token_credential(token: str) -> str:
    """The session credential of a request authenticated by ``token`` (what
    :meth:`RealtimeHandler.session_credential` binds a session to; never the token itself)."""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()


class RealtimeHandler(WebSocketMixin, JupyterHandler, EngineIOHandler):
    """``{base_url}socket.io/``: Engine.IO polling and WebSocket, authenticated by Jupyter."""

    auth_resource = AUTH_RESOURCE

    def prepare(self) -> Awaitable[None] | None:  # type: ignore[override]
        # A handshake costs Jupyter far more than us (auth, the login cookie, the response and
        # its log line): a flood of them takes turns at the driver's gate before that cost.
        admission = self.admit_handshake()
        if admission is True:
            return super().prepare()  # type: ignore[no-any-return]
        if admission is False:
            return None  # answered 503
        return self._prepare_in_turn(admission)

    async def _prepare_in_turn(self, admission: Awaitable[None]) -> None:
        await admission
        result = super().prepare()
        if result is not None:
            await result

    @ws_authenticated
    @authorized
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await super().get(*args, **kwargs)

    @ws_authenticated
    @authorized
    async def post(self, *args: Any, **kwargs: Any) -> None:
        await super().post(*args, **kwargs)

    def session_credential(self) -> str | None:
        if not self.identity_provider.auth_enabled:
            # No token, no password: Jupyter makes every cookie-less request a new anonymous
            # user, and there is no credential to bind a session to.
            return None
        if self.token_authenticated:
            return token_credential(self.identity_provider.get_token(self) or "")
        user = self.current_user
        return None if user is None else "user:" + user.username

    def session_user(self) -> Mapping[str, object] | None:
        user = self.current_user
        if user is None:
            return None
        return {
            "username": user.username,
            "name": user.name,
            "display_name": user.display_name,
            "color": user.color,
        }

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Jupyter refused it (auth, authorization, XSRF: 403), or it failed; counted as a
        # refusal. A short text message: never a traceback or a login page.
        if status_code == 403:
            reason = "not_authorized"
        else:
            reason = "server_error" if status_code >= 500 else f"http_{status_code}"
        self.engine.count_refusal(reason)
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(self._reason)


class ClientBundleHandler(JupyterHandler):
    """``{base_url}socket.io/socket.io.js``: the official browser client, minified, ETag, gzip."""

    auth_resource = AUTH_RESOURCE

    @ws_authenticated
    @authorized
    def get(self) -> None:
        raw, compressed, etag = _load_bundle()
        self.set_header("Content-Type", "application/javascript; charset=UTF-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("ETag", etag)
        self.set_header("Vary", "Accept-Encoding")
        if etag in self.request.headers.get("If-None-Match", ""):
            self.set_status(304)
            self.finish()
            return
        if "gzip" in self.request.headers.get("Accept-Encoding", ""):
            self.set_header("Content-Encoding", "gzip")
            self.finish(compressed)
        else:
            self.finish(raw)

    def compute_etag(self) -> str | None:
        return None  # set explicitly above, once per bundle

    # Refusals and errors logged with the URI scrubbed of credentials, as for the endpoint.
    _request_summary = EngineIOHandler._request_summary
    log_exception = EngineIOHandler.log_exception


@functools.cache
def _load_bundle() -> tuple[bytes, bytes, str]:
    """The bundle, its gzip form and its ETag; raises 404 if the package was built without it."""
    if not CLIENT_BUNDLE.is_file():
        raise web.HTTPError(404, "socket.io.js was not built with this package")
    raw = CLIENT_BUNDLE.read_bytes()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    return raw, gzip.compress(raw, mtime=0), etag
