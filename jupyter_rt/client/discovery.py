"""Find the Jupyter server that hosts this kernel, and connect to it.

:func:`find_server` looks, in order, at

1. the ``url`` and ``token`` arguments;
2. the ``JUPYTER_RT_URL`` and ``JUPYTER_RT_TOKEN`` environment variables;
3. the running Jupyter servers (``jupyter_server.serverapp.list_running_servers``): the one
   that started this process (``JPY_PARENT_PID``), else the one whose ``root_dir`` holds the
   current directory (the deepest), else the only one running.

A URL is the server's address with its ``base_url`` (``http://127.0.0.1:8888/user/ada/``); a
``?token=`` in it is used as the token.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jupyter_rt.errors import ServerNotFound

from ._async import AsyncClient, Handler
from ._sync import Client

__all__ = ["ServerInfo", "connect", "connect_async", "find_server"]

URL_VARIABLE = "JUPYTER_RT_URL"
TOKEN_VARIABLE = "JUPYTER_RT_TOKEN"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A Jupyter server to connect to: its URL (with ``base_url``) and token."""

    url: str
    token: str = ""
    root_dir: str | None = None
    source: str = "argument"
    """Where it was found: ``"argument"``, ``"environment"`` or ``"running servers"``."""

    @property
    def base_url(self) -> str:
        """The server's ``base_url``, e.g. ``"/"``."""
        inner = urlsplit(self.url).path.strip("/")
        return f"/{inner}/" if inner else "/"

    @property
    def origin(self) -> str:
        """``scheme://host:port``."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def socketio_path(self) -> str:
        """The Socket.IO ``path`` option: ``{base_url}socket.io/``."""
        return self.base_url + "socket.io/"

    def __repr__(self) -> str:  # never show the token
        token = "***" if self.token else "''"
        return f"ServerInfo(url={self.url!r}, token={token}, source={self.source!r})"


def _split_token(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    token = query.pop("token", "")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), "")), token


def _running_servers(runtime_dir: str | None) -> Iterator[Mapping[str, Any]]:
    from jupyter_server.serverapp import list_running_servers

    for info in list_running_servers(runtime_dir):
        if info.get("sock"):  # a Unix socket server has no TCP URL to reach
            continue
        yield info


def _contains(root: str, path: Path) -> bool:
    try:
        path.relative_to(Path(root).expanduser().resolve())
    except ValueError:
        return False
    return True


def choose_server(
    servers: Iterable[Mapping[str, Any]], cwd: str | os.PathLike[str], parent_pid: int | None
) -> Mapping[str, Any] | None:
    """The server that started ``parent_pid``, else the deepest whose root holds ``cwd``."""
    candidates = list(servers)
    for info in candidates:
        if parent_pid is not None and info.get("pid") == parent_pid:
            return info
    here = Path(cwd).resolve()
    holding = [s for s in candidates if s.get("root_dir") and _contains(s["root_dir"], here)]
    if holding:
        return max(holding, key=lambda s: len(Path(s["root_dir"]).resolve().parts))
    return candidates[0] if len(candidates) == 1 else None


def find_server(
    url: str | None = None,
    token: str | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    runtime_dir: str | None = None,
) -> ServerInfo:
    """Find the Jupyter server to connect to (see the module docstring for the order).

    Raises :class:`ServerNotFound` when there is none, or several and none holds ``cwd``.
    """
    if url:
        base, in_url = _split_token(url)
        return ServerInfo(base, token or in_url or os.environ.get(TOKEN_VARIABLE, ""))
    env_url = os.environ.get(URL_VARIABLE)
    if env_url:
        base, in_url = _split_token(env_url)
        return ServerInfo(
            base, token or in_url or os.environ.get(TOKEN_VARIABLE, ""), source="environment"
        )
    servers = list(_running_servers(runtime_dir))
    # A kernel started by Jupyter on POSIX gets the server's PID (on Windows, a handle).
    parent = os.environ.get("JPY_PARENT_PID", "") if os.name == "posix" else ""
    info = choose_server(servers, cwd or os.getcwd(), int(parent) if parent.isdigit() else None)
    if info is None:
        found = ", ".join(str(s.get("url")) for s in servers) or "none"
        raise ServerNotFound(
            f"no Jupyter server for {Path(cwd or os.getcwd())} (running: {found}); pass url= "
            f"and token=, or set {URL_VARIABLE} and {TOKEN_VARIABLE}"
        )
    base, _ = _split_token(str(info["url"]))
    return ServerInfo(
        base,
        token if token is not None else str(info.get("token") or ""),
        root_dir=info.get("root_dir"),
        source="running servers",
    )


def connect(
    namespace: str = "/",
    *,
    namespaces: Iterable[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    auth: Mapping[str, Any] | None = None,
    handlers: Mapping[str, Handler] | None = None,
    transports: Sequence[str] | None = None,
    retry: bool = False,
    validate_cert: bool = True,
    **options: Any,
) -> Client:
    """A :class:`Client` connected to the Jupyter server hosting this kernel.

    ``namespace`` (or several ``namespaces``) to join; ``url`` and ``token`` as in
    :func:`find_server`; ``handlers`` (event → handler, on the first namespace) are registered
    before connecting, so no early event is missed; ``transports`` and ``retry`` as in
    :meth:`AsyncClient.connect`; ``validate_cert=False`` accepts a self-signed HTTPS
    certificate; other keyword arguments are :class:`AsyncClient` options.
    """
    server = find_server(url, token)
    client = Client(**options)
    for event, handler in (handlers or {}).items():
        client.on(event, handler)
    try:
        client.connect(
            server.origin,
            path=server.socketio_path,
            token=server.token or None,
            namespaces=list(namespaces) if namespaces is not None else [namespace],
            auth=auth,
            transports=transports,
            retry=retry,
            validate_cert=validate_cert,
        )
    except BaseException:
        client.close()
        raise
    return client


async def connect_async(
    namespace: str = "/",
    *,
    namespaces: Iterable[str] | None = None,
    url: str | None = None,
    token: str | None = None,
    auth: Mapping[str, Any] | None = None,
    handlers: Mapping[str, Handler] | None = None,
    transports: Sequence[str] | None = None,
    retry: bool = False,
    validate_cert: bool = True,
    **options: Any,
) -> AsyncClient:
    """Like :func:`connect`, for asyncio code: an :class:`AsyncClient`, connected."""
    server = find_server(url, token)
    client = AsyncClient(**options)
    for event, handler in (handlers or {}).items():
        client.on(event, handler)
    await client.connect(
        server.origin,
        path=server.socketio_path,
        token=server.token or None,
        namespaces=list(namespaces) if namespaces is not None else [namespace],
        auth=auth,
        transports=transports,
        retry=retry,
        validate_cert=validate_cert,
    )
    return client
