"""The Jupyter server extension: a Socket.IO server on the notebook server's own port.

Enabled on install; configure it like any Jupyter app (``jupyter_server_config.py`` or the
command line)::

    c.RealtimeApp.ping_interval = 25          # seconds
    c.RealtimeApp.apps = ["mypackage.realtime:setup"]   # each gets the Server at start
    c.RealtimeApp.redis_url = "redis://localhost:6379/0"  # share rooms across servers
    c.RealtimeApp.redis_prefix = "socket.io"  # one per deployment sharing a Redis
    c.RealtimeApp.connection_state_recovery = True  # clients that drop come back whole
    c.RealtimeApp.admin_ui = True             # the Socket.IO Admin UI at {base_url}socket.io/admin/
    c.RealtimeApp.monitor = False             # no JupyterLab "Realtime" panel (on by default)
    c.RealtimeApp.jupyter_events = False      # no /jupyter namespace (Jupyter's events as rooms)
    c.RealtimeApp.allow_request = "mypackage.realtime:allow_request"  # the engine's hooks
    c.RealtimeApp.redis_adapter = "streams"   # ... to any server of the cluster
    c.RealtimeApp.max_hosted_per_kernel = 16  # namespaces a kernel may host (jupyter_rt.kernel)
    c.RealtimeApp.metrics = False             # no jupyter_rt_* figures in {base_url}metrics
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
from traitlets import Bool, CaselessStrEnum, Enum, Float, Int, List, TraitError, Unicode, validate

from jupyter_rt._redact import MalformedRequestFilter
from jupyter_rt.admin import AdminUI, instrument
from jupyter_rt.admin.jupyter import ADMIN_UI_DIR, AdminAccess, admin_handlers
from jupyter_rt.events import JupyterEvents
from jupyter_rt.handlers import ClientBundleHandler, RealtimeHandler
from jupyter_rt.kernel.relay import Relay
from jupyter_rt.metrics import ServerMetrics
from jupyter_rt.monitor import Monitor, watch
from jupyter_rt.monitor.jupyter import MonitorAccess, monitor_handlers
from jupyter_rt.options import HOOKS, Options
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
    :class:`Options`; a function option (:data:`~jupyter_rt.options.HOOKS`) is named by a
    ``"module:function"`` string, empty for none."""
    if name in HOOKS:
        return Unicode("", help=f'{Options.help(name)} As "module:function".').tag(config=True)
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
    allow_request = _option("allow_request")
    initial_headers = _option("initial_headers")
    headers = _option("headers")
    connect_timeout = _option("connect_timeout")
    max_attachments = _option("max_attachments")
    max_name_length = _option("max_name_length")
    max_rooms_per_socket = _option("max_rooms_per_socket")
    max_dynamic_namespaces = _option("max_dynamic_namespaces")
    max_namespaces_per_client = _option("max_namespaces_per_client")
    max_queued_events = _option("max_queued_events")
    cleanup_empty_child_namespaces = _option("cleanup_empty_child_namespaces")
    slow_handler_threshold = _option("slow_handler_threshold")
    connection_state_recovery = _option("connection_state_recovery")
    max_disconnection_duration = _option("max_disconnection_duration")
    skip_middlewares = _option("skip_middlewares")
    max_missed_packets = _option("max_missed_packets")
    max_stored_packets = _option("max_stored_packets")
    max_stored_sessions = _option("max_stored_sessions")
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
    admin_ui = Bool(
        False,
        help="Serve the official Socket.IO Admin UI at {base_url}socket.io/admin/ and its /admin "
        "namespace, for this server's own token (and the users it serves the page to).",
    ).tag(config=True)
    admin_ui_mode = Enum(
        ["development", "production"],
        "development",
        help="'development': the Admin UI shows every socket, room change and event; "
        "'production': only the counts (connections, packets, bytes per second).",
    ).tag(config=True)
    admin_ui_read_only = Bool(
        False, help="The Admin UI only shows: no join, leave, disconnect or emit."
    ).tag(config=True)

    jupyter_events = Bool(
        True,
        help="Serve the /jupyter namespace: rooms of the server's events (kernel actions, "
        "contents saves...) and of its kernels' execution state, for this server's own "
        "credentials, with the authorizer's 'read' on 'events'.",
    ).tag(config=True)

    monitor = Bool(
        True,
        help="Serve the live view of the JupyterLab 'Realtime' panel on the namespace "
        "/jupyter/monitor, for this server's own token (and its logged-in users); it costs "
        "nothing while nobody watches.",
    ).tag(config=True)

    metrics = Bool(
        True,
        help="Add this server's realtime figures (jupyter_rt_* names: sockets, handshakes, "
        "refusals, events, bytes, broadcasts, acks timed out, Redis, handler time) to "
        "Jupyter's Prometheus metrics at {base_url}metrics, which need Jupyter's auth unless "
        "c.ServerApp.authenticate_prometheus = False.",
    ).tag(config=True)

    redis_adapter = CaselessStrEnum(
        ["pubsub", "streams"],
        default_value="pubsub",
        help="How servers share Redis: 'pubsub' (Node's @socket.io/redis-adapter) or "
        "'streams' (Node's @socket.io/redis-streams-adapter: broadcasts in a Redis stream and "
        "disconnected sessions in Redis, so connection state recovery works on any server). "
        "With 'streams', redis_prefix names the stream and the channels, and sessions are "
        "kept under 'sio:session:' (the default prefix) or '<redis_prefix>:session:'.",
    ).tag(config=True)

    io: Server
    driver: EngineDriver
    admin: AdminUI | None = None
    """The Admin UI (``admin_ui = True``), else ``None``."""
    admin_access: AdminAccess
    realtime_monitor: Monitor | None = None
    """The live view of the "Realtime" panel (``monitor = True``), else ``None``."""
    monitor_access: MonitorAccess
    events: JupyterEvents | None = None
    """The ``/jupyter`` namespace (``jupyter_events = True``), else ``None``."""
    relay: Relay
    """Lets kernels host namespaces (``jupyter_rt.kernel.host``) on :attr:`io`."""
    server_metrics: ServerMetrics | None = None
    """The figures in Jupyter's ``/metrics`` (``metrics = True``), else ``None``."""

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
        """The server's :class:`Options`, read from this app's traitlets (a function option's
        ``"module:function"`` is imported; a bad one raises naming it)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(Options)}
        for name in HOOKS:
            try:
                values[name] = _load_function(values[name]) if values[name] else None
            except Exception as exc:  # no server at all rather than one without its hook
                raise ValueError(f"c.RealtimeApp.{name} = {values[name]!r}: {exc}") from exc
        return Options(**values)

    @property
    def _server(self) -> ServerApp:
        assert self.serverapp is not None, "the extension runs inside a Jupyter server"
        return self.serverapp

    def initialize_settings(self) -> None:
        _route_logs_to(self._server.log, self.config.get("RealtimeApp", {}).get("log_level"))
        MalformedRequestFilter.install()
        self.io = Server(self.server_options(), adapter=self._adapter())
        self.admin_access = AdminAccess(self._server.identity_provider.token)
        if self.jupyter_events:
            self.events = JupyterEvents(self.io, self._server, self.admin_access.allows)
        if self.admin_ui:
            self._start_admin_ui()
        if self.monitor:
            self.monitor_access = MonitorAccess(self._server.identity_provider.token)
            self.realtime_monitor = watch(self.io, auth=self.monitor_access.middleware)
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

    def _start_admin_ui(self) -> None:
        self.admin = instrument(
            self.io,
            auth=self.admin_access.middleware,
            mode="production" if self.admin_ui_mode == "production" else "development",
            read_only=self.admin_ui_read_only,
        )
        if not (ADMIN_UI_DIR / "index.html").is_file():
            log.warning("The Admin UI page was not built with this package (bash dev.sh setup)")

    def _adapter(self) -> Any:
        if not self.redis_url:
            return None
        from jupyter_rt.adapters.redis import DEFAULT_PREFIX, RedisAdapter, RedisStreamsAdapter

        prefix = self.redis_prefix
        if self.redis_adapter == "streams":
            sessions = "sio:session:" if prefix == DEFAULT_PREFIX else f"{prefix}:session:"
            return RedisStreamsAdapter.factory(
                self.redis_url,
                stream_name=prefix,
                channel_prefix=prefix,
                session_key_prefix=sessions,
            )
        return RedisAdapter.factory(self.redis_url, prefix=prefix)

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
        if self.metrics:
            # In prometheus_client's default registry, the one Jupyter serves at /metrics.
            metrics = ServerMetrics(self.io, self.driver.engine)
            if metrics.register():
                self.server_metrics = metrics
            else:  # logged; nothing to count for
                metrics.close()
        if self.admin is not None:
            routes = admin_handlers(web_app.settings["base_url"], self.admin_access)
            web_app.add_handlers(r".*", routes)
            log.info("Admin UI at %s (%s mode)", url_path_join(path, "admin/"), self.admin.mode)
        if self.realtime_monitor is not None:
            routes = monitor_handlers(web_app.settings["base_url"], self.monitor_access)
            web_app.add_handlers(r".*", routes)

    async def _start_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Once the event loop runs: start the adapters (with Redis: subscribe), so this server
        receives other servers' broadcasts and counts in the cluster before its first client."""
        http_server = getattr(serverapp, "http_server", None)
        if http_server is not None:
            # A burst of new connections (a flood of handshakes) is served over several loop
            # turns, not all in one: Tornado parses and routes each one's first request at once.
            pace_connections(http_server, self.driver.connections)
        if self.admin is not None:
            self.admin.start()
        if self.events is not None:
            self.events.start()
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
                log.info(
                    "Sharing rooms through Redis at %s (%s), prefix %r",
                    where,
                    self.redis_adapter,
                    self.redis_prefix,
                )

    async def stop_extension(self) -> None:
        if self.server_metrics is not None:
            self.server_metrics.close()
        if self.admin is not None:
            self.admin.close()
        if self.realtime_monitor is not None:
            self.realtime_monitor.close()
        if self.events is not None:
            self.events.close()
        await self.io.close()
        self.driver.shutdown()


def _load_function(spec: str) -> Callable[..., Any]:
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
