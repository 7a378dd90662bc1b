"""The ``/jupyter`` namespace: Jupyter's own events as rooms.

A client asks, each with an ack:

- ``topics`` → ``{ok: true, topics: [schema id, …, "kernel_status"]}``: the schemas the server's
  ``EventLogger`` knows now, and the kernels' execution state;
- ``subscribe (topic)`` → ``{ok: true}`` and the socket joins the topic's room, or ``{ok: false,
  error}`` for a topic the server does not know or past :data:`MAX_SUBSCRIPTIONS`;
- ``unsubscribe (topic)`` → ``{ok: true}``, and nothing more of that topic arrives.

What a subscriber receives:

- ``event {schema_id, version, data, timestamp}`` for each event the ``EventLogger`` emits
  (``data`` after the logger's modifiers, ``timestamp`` ISO 8601 in UTC), e.g. kernel actions
  and contents saves;
- ``kernel_status {kernel_id, execution_state}`` each time a kernel reports its state on IOPub
  (``starting``, ``busy``, ``idle``…), and ``dead`` when it dies or is shut down.

Who may connect (:class:`JupyterEvents` middleware): the server's own credentials, as for the
Admin UI (:class:`~jupyter_rt.admin.jupyter.AdminAccess`), and only if the server's authorizer
allows them ``read`` on the resource ``events``. Others are refused with a logged reason.
Events go to this server's subscribers only, never through Redis to other servers'.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from jupyter_server.auth import User

from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.events.kernels import KERNEL_ACTIONS, KernelStates
from jupyter_rt.server import Server, Socket

if TYPE_CHECKING:
    from jupyter_events import EventLogger
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.serverapp import ServerApp

__all__ = [
    "EVENTS_RESOURCE",
    "KERNEL_STATUS",
    "MAX_SUBSCRIPTIONS",
    "NAMESPACE",
    "JupyterEvents",
]

log = logging.getLogger("jupyter_rt.events")

NAMESPACE = "/jupyter"
KERNEL_STATUS = "kernel_status"
"""The topic (and room, and event) of the kernels' execution state."""
EVENTS_RESOURCE = "events"
"""What the authorizer is asked about (action ``read``), as for Jupyter's ``/api/events``."""
MAX_SUBSCRIPTIONS = 32
"""Topics one socket may subscribe to at once."""
MAX_TOPIC_LENGTH = 512


def _room(topic: str) -> str:
    return "topic:" + topic


class JupyterEvents:
    """Serves :data:`NAMESPACE` on ``io`` for the Jupyter server ``serverapp``; ``allows`` says
    whether a session credential is the server's own. Call :meth:`start` once the event loop
    runs and :meth:`close` when the extension stops (it removes every listener it added)."""

    def __init__(
        self, io: Server, serverapp: ServerApp, allows: Callable[[str | None], bool]
    ) -> None:
        self._io = io
        self._serverapp = serverapp
        self._allows = allows
        self._nsp = io.of(NAMESPACE)
        self._listening: set[str] = set()
        self._kernels = KernelStates(serverapp.kernel_manager, self._kernel_status)
        self._nsp.use(self._admit)
        self._nsp.on("connection", self._on_connection)

    @property
    def _logger(self) -> EventLogger | None:
        logger: EventLogger | None = getattr(self._serverapp, "event_logger", None)
        return logger

    def start(self) -> None:
        """Listen to every schema the ``EventLogger`` knows and watch the running kernels."""
        logger = self._logger
        if logger is not None:
            for schema_id in logger.schemas.schema_ids:
                self._listen(schema_id)
        self._kernels.watch_running()

    def close(self) -> None:
        """Remove the listeners and stop watching kernels."""
        logger = self._logger
        if logger is not None:
            for schema_id in self._listening:
                logger.remove_listener(schema_id=schema_id, listener=self._on_event)
        self._listening.clear()
        self._kernels.close()

    def topics(self) -> list[str]:
        """The topics a client may subscribe to now."""
        logger = self._logger
        ids = list(logger.schemas.schema_ids) if logger is not None else []
        return [*ids, KERNEL_STATUS]

    def _listen(self, schema_id: str) -> None:
        logger = self._logger
        if logger is None or schema_id in self._listening:
            return
        logger.add_listener(schema_id=schema_id, listener=self._on_event)
        self._listening.add(schema_id)

    # -- who may connect --------------------------------------------------------------------

    async def _admit(self, socket: Socket) -> None:
        credential: str | None = getattr(socket.conn, "credential", None)
        if not self._allows(credential):
            why = "only this server's own credentials open /jupyter"
            if credential is None:
                why = "/jupyter needs Jupyter auth (a token or a password)"
            self._refuse(socket, why)
        user = socket.handshake.user
        if user is None or not await self._may_read_events(user):
            self._refuse(socket, "the authorizer does not allow reading events")

    async def _may_read_events(self, user: Any) -> bool:
        who = User(
            username=str(user.get("username", "")),
            name=str(user.get("name", "")),
            display_name=str(user.get("display_name", "")),
        )
        authorizer = self._serverapp.authorizer
        try:
            # There is no request handler behind a Socket.IO connection: authorizers that need
            # one see None, fail, and so refuse.
            allowed = authorizer.is_authorized(
                cast("JupyterHandler", None), who, "read", EVENTS_RESOURCE
            )
            if inspect.isawaitable(allowed):
                allowed = await allowed
        except Exception:
            log.exception("The authorizer failed on a /jupyter connection; refusing it")
            return False
        return bool(allowed)

    def _refuse(self, socket: Socket, why: str) -> None:
        log.warning("Refused a /jupyter connection from %s: %s", socket.handshake.address, why)
        raise ConnectionRefused(f"not authorized: {why}")

    # -- a subscriber's requests ------------------------------------------------------------

    def _on_connection(self, socket: Socket) -> None:
        socket.on("topics", lambda *_: {"ok": True, "topics": self.topics()})
        socket.on("subscribe", lambda topic=None, *_: self._subscribe(socket, topic))
        socket.on("unsubscribe", lambda topic=None, *_: self._unsubscribe(socket, topic))

    def _subscribe(self, socket: Socket, topic: object) -> dict[str, Any]:
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            return {"ok": False, "error": "give a topic: a schema id or 'kernel_status'"}
        if topic not in self.topics():
            return {"ok": False, "error": "unknown topic"}
        room = _room(topic)
        subscribed = [r for r in socket.rooms if r.startswith("topic:")]
        if room not in subscribed and len(subscribed) >= MAX_SUBSCRIPTIONS:
            return {"ok": False, "error": f"at most {MAX_SUBSCRIPTIONS} topics per socket"}
        if topic != KERNEL_STATUS:
            self._listen(topic)  # a schema registered after the start
        socket.join(room)
        return {"ok": True}

    def _unsubscribe(self, socket: Socket, topic: object) -> dict[str, Any]:
        if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
            return {"ok": False, "error": "give a topic: a schema id or 'kernel_status'"}
        socket.leave(_room(topic))
        return {"ok": True}

    # -- what subscribers receive -----------------------------------------------------------

    async def _on_event(self, logger: EventLogger, schema_id: str, data: dict[str, Any]) -> None:
        payload = {
            "schema_id": schema_id,
            "version": logger.schemas.get(schema_id).version,
            "data": data,
            "timestamp": datetime.now(tz=timezone.utc).isoformat(),
        }
        await self._nsp.local.to(_room(schema_id)).emit("event", payload)
        if schema_id == KERNEL_ACTIONS:
            await self._kernels.on_kernel_action(data)

    def _kernel_status(self, kernel_id: str, execution_state: str) -> None:
        payload = {"kernel_id": kernel_id, "execution_state": execution_state}
        self._io.tasks.spawn(self._nsp.local.to(_room(KERNEL_STATUS)).emit(KERNEL_STATUS, payload))
