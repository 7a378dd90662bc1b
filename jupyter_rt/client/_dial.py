"""Dialling a Socket.IO server: the WebSocket request, and the Engine.IO handshake."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tornado import httpclient, websocket

from jupyter_rt.errors import ConnectError, ProtocolError
from jupyter_rt.protocol import engineio


async def open_websocket(
    request: httpclient.HTTPRequest, max_message: int
) -> websocket.WebSocketClientConnection:
    """The WebSocket of ``request``; :class:`ConnectError` (no token in it) if it fails."""
    try:
        return await websocket.websocket_connect(request, max_message_size=max_message)
    except httpclient.HTTPClientError as exc:
        hint = " (is the token right?)" if exc.code == 403 else ""
        raise ConnectError(
            f"{without_query(request.url)}: HTTP {exc.code} {exc.message}{hint}"
        ) from None
    except (OSError, asyncio.TimeoutError, websocket.WebSocketError) as exc:
        raise ConnectError(f"{without_query(request.url)}: {exc or type(exc).__name__}") from None


async def read_open(ws: websocket.WebSocketClientConnection, timeout: float) -> dict[str, Any]:
    """The server's Engine.IO OPEN packet, as a dict; closes ``ws`` and raises
    :class:`ConnectError` if none comes within ``timeout`` seconds or it is malformed."""
    try:
        frame = await asyncio.wait_for(ws.read_message(), timeout)
    except asyncio.TimeoutError:
        ws.close()
        raise ConnectError("no Engine.IO handshake from the server") from None
    try:
        if frame is None:
            raise ProtocolError("connection closed before the handshake")
        packet = engineio.decode_frame(frame)
        if packet.type != engineio.PacketType.OPEN or not isinstance(packet.data, str):
            raise ProtocolError(f"expected an OPEN packet, got {frame!r:.80}")
        handshake = json.loads(packet.data)
        if not isinstance(handshake, dict):
            raise ProtocolError("handshake is not an object")
    except (ProtocolError, ValueError) as exc:
        ws.close()
        raise ConnectError(f"bad Engine.IO handshake: {exc}") from None
    return handshake


def without_query(url: str) -> str:
    """``url`` without its query string, which may hold a token."""
    return url.split("?", 1)[0]


def build_request(
    url: str,
    path: str,
    *,
    token: str | None,
    namespaces: Iterable[str] | None,
    headers: Mapping[str, str] | None,
    query: Mapping[str, str] | None,
    timeout: float,
    validate_cert: bool,
) -> tuple[httpclient.HTTPRequest, list[str]]:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"not an http(s) or ws(s) URL: {url!r}")
    if namespaces is None:
        namespaces = [parts.path.rstrip("/") or "/"]
    names = list(dict.fromkeys(namespaces))
    if not names:
        raise ValueError("connect to at least one namespace")
    for name in names:
        if not name.startswith("/"):
            raise ValueError(f"namespace names start with '/': {name!r}")
    params = dict(parse_qsl(parts.query))
    params.update(query or {})
    params.update({"EIO": engineio.PROTOCOL_VERSION, "transport": "websocket"})
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"token {token}"
    endpoint = "/" + path.strip("/") + "/"
    request = httpclient.HTTPRequest(
        f"{scheme}://{parts.netloc}{endpoint}?{urlencode(params)}",
        headers=all_headers,
        connect_timeout=timeout,
        request_timeout=timeout,
        validate_cert=validate_cert,
    )
    return request, names
