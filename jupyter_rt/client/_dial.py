"""Dialling a Socket.IO server: where it is, the credentials every request carries, the
WebSocket, and the Engine.IO handshake."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit

from tornado import httpclient, websocket

from jupyter_rt.client._http import HTTPClient
from jupyter_rt.errors import ConnectError, ProtocolError
from jupyter_rt.protocol import engineio

TRANSPORTS = ("polling", "websocket")
"""The transports a client may use, in the order it tries them by default."""


class CredentialsRefused(ConnectError):
    """The server answered HTTP 401 or 403: trying again with the same credentials is useless."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The server's Engine.IO OPEN packet. Times in seconds."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int | None


def parse_handshake(packet: engineio.Packet) -> Handshake:
    """The :class:`Handshake` in an OPEN packet; :class:`ConnectError` if it is not one."""
    try:
        if packet.type != engineio.PacketType.OPEN or not isinstance(packet.data, str):
            raise ProtocolError(f"expected an OPEN packet, got type {packet.type.name}")
        data = json.loads(packet.data)
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise ProtocolError("the handshake has no sid")
        upgrades = data.get("upgrades", [])
        max_payload = data.get("maxPayload")
        return Handshake(
            sid=data["sid"],
            upgrades=tuple(u for u in upgrades if isinstance(u, str))
            if isinstance(upgrades, list)
            else (),
            ping_interval=float(data.get("pingInterval", 25000)) / 1000,
            ping_timeout=float(data.get("pingTimeout", 20000)) / 1000,
            max_payload=max_payload if isinstance(max_payload, int) else None,
        )
    except (ProtocolError, ValueError, TypeError) as exc:
        raise ConnectError(f"bad Engine.IO handshake: {exc}") from None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a server serves Engine.IO, and what every request to it carries.

    ``headers`` (the caller's, and ``Authorization: token …``) go with every polling request
    and the WebSocket handshake. Without a token or a cookie of the caller's, polling POSTs
    carry a double-submit XSRF pair (the ``_xsrf`` cookie and the ``X-XSRFToken`` header with
    one random value), which a Jupyter server without auth requires.
    """

    tls: bool
    host: str
    port: int
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    timeout: float
    validate_cert: bool
    post_headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The endpoint's URL, without its query string (which may hold a token)."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self._netloc()}{self.path}"

    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def target(self, transport: str, sid: str | None = None) -> str:
        """The request target (path and query) for ``transport`` and session ``sid``."""
        params = dict(self.query)
        params.update({"EIO": engineio.PROTOCOL_VERSION, "transport": transport})
        if sid is not None:
            params["sid"] = sid
        if transport == "polling":
            params["t"] = secrets.token_urlsafe(6)  # no cached answer from a proxy
        return f"{self.path}?{urlencode(params)}"

    def http_client(self, max_body_size: int) -> HTTPClient:
        """A client for this endpoint's polling requests."""
        return HTTPClient(
            self.host,
            self.port,
            tls=self.tls,
            validate_cert=self.validate_cert,
            max_body_size=max_body_size,
        )

    async def open_websocket(
        self, max_message: int, sid: str | None = None
    ) -> websocket.WebSocketClientConnection:
        """The WebSocket of session ``sid`` (a new session without it); :class:`ConnectError`
        if it cannot be opened (the message never holds the query string)."""
        scheme = "wss" if self.tls else "ws"
        request = httpclient.HTTPRequest(
            f"{scheme}://{self._netloc()}{self.target('websocket', sid)}",
            headers=dict(self.headers),
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
            validate_cert=self.validate_cert,
        )
        try:
            return await websocket.websocket_connect(request, max_message_size=max_message)
        except httpclient.HTTPClientError as exc:
            raise refusal(self.display, exc.code, exc.message) from None
        except (OSError, asyncio.TimeoutError, websocket.WebSocketError) as exc:
            raise ConnectError(f"{self.display}: {exc or type(exc).__name__}") from None


def refusal(where: str, status: int | None, message: str | None) -> ConnectError:
    """The :class:`ConnectError` for an HTTP error answer (:class:`CredentialsRefused` for
    401 and 403, with a hint)."""
    if status in (401, 403):
        return CredentialsRefused(f"{where}: HTTP {status} {message or ''} (is the token right?)")
    return ConnectError(f"{where}: HTTP {status} {message or ''}".rstrip())


def make_endpoint(
    url: str,
    path: str,
    *,
    token: str | None,
    namespaces: Iterable[str] | None,
    headers: Mapping[str, str] | None,
    query: Mapping[str, str] | None,
    timeout: float,
    validate_cert: bool,
) -> tuple[Endpoint, list[str]]:
    """The :class:`Endpoint` of ``url`` and ``path``, and the namespaces to connect to."""
    parts = urlsplit(url)
    tls = {"http": False, "ws": False, "https": True, "wss": True}.get(parts.scheme)
    if tls is None or not parts.hostname:
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
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"token {token}"
    post_headers: dict[str, str] = {}
    has_cookie = any(name.lower() == "cookie" for name in all_headers)
    if not token and "token" not in params and not has_cookie:
        xsrf = secrets.token_hex(16)
        post_headers = {"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf}
    endpoint = Endpoint(
        tls=tls,
        host=parts.hostname,
        port=parts.port or (443 if tls else 80),
        path="/" + path.strip("/") + "/",
        query=params,
        headers=all_headers,
        timeout=timeout,
        validate_cert=validate_cert,
        post_headers=post_headers,
    )
    return endpoint, names


def check_transports(transports: Sequence[str] | None) -> tuple[str, ...]:
    """``transports`` (default: polling, then WebSocket) checked: known names, none twice."""
    if transports is None:
        return TRANSPORTS
    if isinstance(transports, str):
        raise TypeError("transports is a list of names, e.g. ['websocket']")
    chosen = tuple(dict.fromkeys(transports))
    unknown = [t for t in chosen if t not in TRANSPORTS]
    if unknown or not chosen:
        raise ValueError(f"transports are some of {list(TRANSPORTS)}, not {list(transports)}")
    return chosen
