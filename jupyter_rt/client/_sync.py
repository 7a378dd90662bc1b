"""``Client``: the blocking face of :class:`AsyncClient`, for scripts and busy notebook cells.

The client runs on its own event loop in a daemon thread, so it keeps answering the server's
pings and running handlers while the calling thread blocks (``time.sleep`` in a cell, a long
computation). Handlers run on that thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from jupyter_rt._tasks import TaskKeeper

from ._async import AsyncClient, Handler

__all__ = ["Client"]

H = TypeVar("H", bound=Handler)
T = TypeVar("T")


class Client:
    """A Socket.IO client whose methods block (see :class:`AsyncClient` for the options).

    ::

        with Client() as client:
            client.on("tickEvent", print)  # on the namespace connected to below
            client.connect("http://127.0.0.1:8888/tick", token=token)
            client.emit("tickReceivedEvent", {"tick": 0})

    Inside a handler (which runs on the client's thread) :meth:`emit` does not block;
    :meth:`call` cannot be used there: make the handler ``async`` and use :attr:`aio`.
    """

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="jupyter_rt-client", daemon=True
        )
        self._thread.start()
        self.aio = AsyncClient(**options)
        self._tasks = TaskKeeper()  # emits made on the client's own thread
        """The underlying :class:`AsyncClient` (use it from async handlers)."""
        self._closed = False

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coroutine.close()
            raise RuntimeError("this client is closed")
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("blocking call from a handler of this client: use client.aio")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # -- state ---------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the transport is open and every namespace is connected."""
        return self.aio.connected

    @property
    def namespaces(self) -> dict[str, str]:
        """The connected namespaces and their socket ids."""
        return self.aio.namespaces

    @property
    def sid(self) -> str | None:
        """The socket id on the first namespace connected."""
        return self.aio.sid

    def get_sid(self, namespace: str | None = None) -> str | None:
        """This client's socket id on ``namespace``."""
        return self.aio.get_sid(namespace)

    @property
    def transport(self) -> str | None:
        """``"polling"`` or ``"websocket"`` while connected, else ``None``."""
        return self.aio.transport

    def is_recovered(self, namespace: str | None = None) -> bool:
        """Whether the last connection to ``namespace`` recovered the session before it; see
        :meth:`AsyncClient.is_recovered`."""
        return self.aio.is_recovered(namespace)

    @property
    def recovered(self) -> bool:
        """:meth:`is_recovered` for the default namespace."""
        return self.aio.recovered

    # -- API -----------------------------------------------------------------------------------

    def connect(
        self,
        url: str | Sequence[str],
        *,
        path: str = "/socket.io/",
        token: str | None = None,
        namespaces: Iterable[str] | None = None,
        auth: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        transports: Sequence[str] | None = None,
        retry: bool = False,
        validate_cert: bool = True,
    ) -> None:
        """Connect and join ``namespaces``; see :meth:`AsyncClient.connect`."""
        self._run(
            self.aio.connect(
                url,
                path=path,
                token=token,
                namespaces=namespaces,
                auth=auth,
                headers=headers,
                query=query,
                transports=transports,
                retry=retry,
                validate_cert=validate_cert,
            )
        )

    @overload
    def on(self, event: str, *, namespace: str | None = None) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H, *, namespace: str | None = None) -> H: ...
    def on(
        self, event: str, handler: H | None = None, *, namespace: str | None = None
    ) -> H | Callable[[H], H]:
        """Add a handler (sync or async; it runs on the client's thread); see
        :meth:`AsyncClient.on` (several per event, ``"*"`` for every event)."""
        if handler is None:
            return self.aio.on(event, namespace=namespace)
        return self.aio.on(event, handler, namespace=namespace)

    def off(
        self, event: str, handler: Handler | None = None, *, namespace: str | None = None
    ) -> None:
        """Remove ``handler`` of ``event``, or every handler of ``event``."""
        self.aio.off(event, handler, namespace=namespace)

    def emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        callback: Handler | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send ``event``; ``callback(*ack)`` runs on the client's thread when acknowledged
        within ``timeout`` seconds (by default the client's ``ack_timeout``)."""
        coroutine = self.aio.emit(
            event, *args, namespace=namespace, callback=callback, timeout=timeout
        )
        if threading.current_thread() is self._thread:
            self._tasks.spawn(coroutine)
            return
        self._run(coroutine)

    def call(
        self, event: str, *args: Any, namespace: str | None = None, timeout: float | None = None
    ) -> Any:
        """Emit ``event`` and block until the ack; raises :class:`~jupyter_rt.AckTimeout` after
        ``timeout`` seconds (by default the client's ``ack_timeout``)."""
        return self._run(self.aio.call(event, *args, namespace=namespace, timeout=timeout))

    def drop(self) -> None:
        """Drop the transport as a failing network would; see :meth:`AsyncClient.drop`."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self.aio.drop)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the client is disconnected for good (or ``timeout`` seconds pass)."""
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._run(self.aio.wait(), timeout)

    def disconnect(self) -> None:
        """Leave every namespace and close the connection (the thread keeps running)."""
        if not self._closed:
            self._run(self.aio.disconnect())

    def close(self) -> None:
        """Disconnect and stop the client's thread. The client cannot be used afterwards."""
        if self._closed:
            return
        try:
            self.disconnect()
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed" if self._closed else "disconnected"
        return f"<Client {state} namespaces={sorted(self.namespaces)}>"
