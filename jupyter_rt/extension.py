"""The Jupyter server extension: a Socket.IO server on the notebook server's own port.

Enabled on install; configure it like any Jupyter app (``jupyter_server_config.py`` or the
command line)::

    c.RealtimeApp.ping_interval = 25          # seconds
    c.RealtimeApp.apps = ["mypackage.realtime:setup"]   # each gets the Server at start
    c.RealtimeApp.redis_url = "redis://localhost:6379/0"  # share rooms across servers
    c.RealtimeApp.redis_prefix = "socket.io"  # one per deployment sharing a Redis
    c.RealtimeApp.max_hosted_per_kernel = 16  # namespaces a kernel may host (jupyter_rt.kernel)
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Bool, Float, Int, List, TraitError, Unicode, validate

from jupyter_rt._redact import MalformedRequestFilter
from jupyter_rt.handlers import ClientBundleHandler, RealtimeHandler
from jupyter_rt.kernel.relay import Relay
from jupyter_rt.options import Options
from jupyter_rt.server import Server
from jupyter_rt.transports import EngineDriver, mount
from jupyter_rt.transports.admission import pace_connections

log = logging.getLogger("jupyter_rt")
"""Routed to the Jupyter server's log at start (see :func:`_route_logs_to`)."""

DEFAULTS = Options()

BUILT_IN_APPS = [
    "jupyter_rt.apps.tick:setup",
    "jupyter_rt.apps.chat:setup",
    "jupyter_rt.apps.hub:setup",
]


def _option(name: str) -> Any:
    """The traitlet of the server option ``name``: its type, default and help from
    :class:`Options`."""
    default = getattr(DEFAULTS, name)
    kind = {bool: Bool, int: Int, float: Float}[type(default)]
    return kind(default, help=Options.help(name)).tag(config=True)


class RealtimeApp(ExtensionApp):
    """Serves Engine.IO v4 / Socket.IO v5 at ``{base_url}socket.io/``."""

    name = "jupyter_rt"
    load_other_extensions = True

    transports = List(
        Unicode(), default_value=list(DEFAULTS.transports), help=Options.help("transports")
    ).tag(config=True)
    ping_interval = _option("ping_interval")
    ping_timeout = _option("ping_timeout")
    max_payload = _option("max_payload")
    upgrade_timeout = _option("upgrade_timeout")
    max_poll_packets = _option("max_poll_packets")
    max_buffered_bytes = _option("max_buffered_bytes")
    connect_timeout = _option("connect_timeout")
    max_attachments = _option("max_attachments")
    max_name_length = _option("max_name_length")
    max_rooms_per_socket = _option("max_rooms_per_socket")
    max_dynamic_namespaces = _option("max_dynamic_namespaces")
    max_namespaces_per_client = _option("max_namespaces_per_client")
    max_queued_events = _option("max_queued_events")
    cleanup_empty_child_namespaces = _option("cleanup_empty_child_namespaces")
    slow_handler_threshold = _option("slow_handler_threshold")
    apps = List(
        Unicode(),
        default_value=BUILT_IN_APPS,
        help='Realtime apps to start, as "module:function"; each function gets the Server.',
    ).tag(config=True)
    redis_url = Unicode(
        "", help="Redis URL to share rooms and broadcasts across servers; empty: in-memory."
    ).tag(config=True)
    max_hosted_per_kernel = Int(
        16, help="Namespaces one kernel may host (jupyter_rt.kernel.host)."
    ).tag(config=True)
    max_hosted_namespaces = Int(
        256,
        help="Namespaces kernels may host on this server at once (freed ones count while "
        "their clients wait for them, see hosted_vacancy).",
    ).tag(config=True)
    hosted_vacancy = Float(
        300.0,
        help="Seconds a namespace freed by its kernel (closed, restarted, stopped) keeps its "
        "returning clients waiting for a kernel to host it again; then they get 'Invalid "
        "namespace'.",
    ).tag(config=True)
    redis_prefix = Unicode(
        "socket.io",
        help="Prefix of the Redis channels (the 'key' option of Node's redis adapter): servers "
        "share rooms with the servers using the same prefix; give each deployment sharing one "
        "Redis its own.",
    ).tag(config=True)

    io: Server
    driver: EngineDriver
    relay: Relay
    """Lets kernels host namespaces (``jupyter_rt.kernel.host``) on :attr:`io`."""

    @validate("transports", "apps")
    def _read_json_lists(self, proposal: dict[str, Any]) -> list[str]:
        """A list given on the command line in JSON (``--RealtimeApp.apps='["a:b"]'``) reaches
        us as one string; read it as the list it is, or refuse it."""
        value: list[str] = list(proposal["value"])
        if len(value) == 1 and value[0].lstrip().startswith("["):
            try:
                parsed = json.loads(value[0])
            except ValueError as exc:
                raise TraitError(f"{proposal['trait'].name}: not a JSON list: {exc}") from exc
            if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
                raise TraitError(f"{proposal['trait'].name}: give a JSON list of strings")
            value = parsed
        if proposal["trait"].name == "transports":
            Options(transports=tuple(value))  # raises ValueError naming the bad transport
        return value

    @validate("max_hosted_per_kernel", "max_hosted_namespaces", "hosted_vacancy")
    def _check_positive(self, proposal: dict[str, Any]) -> Any:
        if not proposal["value"] > 0:
            raise TraitError(f"{proposal['trait'].name} must be positive")
        return proposal["value"]

    @validate("redis_prefix")
    def _check_redis_prefix(self, proposal: dict[str, Any]) -> str:
        value: str = proposal["value"]
        if not value:
            raise ValueError("redis_prefix cannot be empty")
        return value

    def server_options(self) -> Options:
        """The server's :class:`Options`, read from this app's traitlets."""
        return Options(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(Options)},
        )

    @property
    def _server(self) -> ServerApp:
        assert self.serverapp is not None, "the extension runs inside a Jupyter server"
        return self.serverapp

    def initialize_settings(self) -> None:
        _route_logs_to(self._server.log, self.config.get("RealtimeApp", {}).get("log_level"))
        MalformedRequestFilter.install()
        self.io = Server(self.server_options(), adapter=self._adapter())
        for spec in self.apps:
            self._start_app(spec)
        # After the apps: their namespaces are the server's own, no kernel may take them.
        identity = self._server.identity_provider
        self.relay = Relay(
            self.io,
            token=lambda: identity.token or "",
            max_per_kernel=self.max_hosted_per_kernel,
            max_total=self.max_hosted_namespaces,
            vacancy=self.hosted_vacancy,
        )
        self.settings["jupyter_rt"] = self.io

    def _adapter(self) -> Any:
        if not self.redis_url:
            return None
        from jupyter_rt.adapters.redis import RedisAdapter

        return RedisAdapter.factory(self.redis_url, prefix=self.redis_prefix)

    def _start_app(self, spec: str) -> None:
        try:
            setup = _load_function(spec)
            setup(self.io)
        except Exception:
            log.exception("Realtime app %r failed to start; serving without it", spec)
        else:
            log.info("Realtime app %s started", spec)

    def initialize_handlers(self) -> None:
        # Handlers are mounted through jupyter_rt.transports.mount so the endpoint is the same
        # as in any Tornado app; base_url is prepended by the server.
        web_app: web.Application = self._server.web_app
        path = url_path_join(web_app.settings["base_url"], "socket.io/")
        self.driver = mount(web_app, self.io, path, handler_class=RealtimeHandler)
        decoded = unquote(path)
        if decoded != path:
            # A base_url with %-escapes ("/user/a%40b/"): aiohttp, and so python-socketio,
            # sends the path decoded ("/user/a@b/"); serve both spellings.
            pattern = re.escape(decoded.rstrip("/")) + "/?"
            web_app.add_handlers(r".*", [(pattern, RealtimeHandler, {"driver": self.driver})])
        self.handlers.append((r"/socket.io/socket.io.js", ClientBundleHandler))

    async def _start_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Once the event loop runs: start the adapters (with Redis: subscribe), so this server
        receives other servers' broadcasts and counts in the cluster before its first client."""
        http_server = getattr(serverapp, "http_server", None)
        if http_server is not None:
            # A burst of new connections (a flood of handshakes) is served over several loop
            # turns, not all in one: Tornado parses and routes each one's first request at once.
            pace_connections(http_server, self.driver.connections)
        where = getattr(self.io.sockets.adapter, "where", "?")
        try:
            await self.io.ready()
        except Exception as exc:
            if not self.redis_url:
                raise
            log.warning(
                "Redis at %s is not reachable yet (%s: %s); serving this server's own clients "
                "meanwhile and retrying: rooms are shared once Redis answers",
                where,
                type(exc).__name__,
                exc,
            )
        else:
            if self.redis_url:
                log.info("Sharing rooms through Redis at %s, prefix %r", where, self.redis_prefix)

    async def stop_extension(self) -> None:
        await self.io.close()
        self.driver.shutdown()


def _load_function(spec: str) -> Callable[[Server], object]:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f'{spec!r} is not of the form "module:function"')
    function = getattr(importlib.import_module(module_name), attribute)
    if not callable(function):
        raise TypeError(f"{spec!r} is not callable")
    return function  # type: ignore[no-any-return]


def _route_logs_to(parent: logging.Logger, level: int | str | None) -> None:
    """Send the ``jupyter_rt`` logger's records through the Jupyter server's log."""
    logger = logging.getLogger("jupyter_rt")
    logger.parent = parent
    logger.propagate = True
    if level is not None:
        logger.setLevel(level)
