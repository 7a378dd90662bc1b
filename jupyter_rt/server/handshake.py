"""What a socket connected with: :class:`SocketHandshake` (Node's ``socket.handshake``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from jupyter_rt._redact import MASK, scrub_headers, scrub_query, scrub_uri

if TYPE_CHECKING:
    from jupyter_rt.server.connection import Connection

__all__ = ["SocketHandshake"]


@dataclass(frozen=True, slots=True)
class SocketHandshake:
    """What a socket connected with (Node's ``socket.handshake``).

    ``auth`` is the object the client sent with its namespace CONNECT; ``headers`` and ``query``
    come from the HTTP request that opened the connection (header names lower-case); ``user`` is
    the authenticated Jupyter user when hosted in Jupyter. ``issued`` is in milliseconds since the
    epoch, ``time`` the same as an ISO 8601 string.
    """

    headers: Mapping[str, str]
    query: Mapping[str, str]
    auth: Mapping[str, Any]
    address: str
    url: str
    time: str
    issued: int
    xdomain: bool
    secure: bool
    user: Mapping[str, object] | None = None

    def __repr__(self) -> str:
        # Apps log handshakes: credentials (cookies, tokens, the CONNECT auth values) masked.
        return (
            f"SocketHandshake(url={scrub_uri(self.url)!r}, address={self.address!r}, "
            f"user={self.user!r}, headers={scrub_headers(self.headers)!r}, "
            f"query={scrub_query(self.query)!r}, auth={dict.fromkeys(self.auth, MASK)!r}, "
            f"time={self.time!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The handshake in Node's shape (for cluster adapters)."""
        out = {
            "headers": dict(self.headers),
            "time": self.time,
            "address": self.address,
            "xdomain": self.xdomain,
            "secure": self.secure,
            "issued": self.issued,
            "url": self.url,
            "query": dict(self.query),
            "auth": dict(self.auth),
        }
        if self.user is not None:
            out["user"] = dict(self.user)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SocketHandshake:
        """Build from Node's shape; missing or malformed fields get empty values."""

        def mapping(key: str) -> dict[str, Any]:
            value = data.get(key)
            return dict(value) if isinstance(value, Mapping) else {}

        user = data.get("user")
        issued = data.get("issued")
        return cls(
            headers=mapping("headers"),
            query=mapping("query"),
            auth=mapping("auth"),
            address=str(data.get("address", "")),
            url=str(data.get("url", "")),
            time=str(data.get("time", "")),
            issued=int(issued) if isinstance(issued, (int, float)) else 0,
            xdomain=bool(data.get("xdomain", False)),
            secure=bool(data.get("secure", False)),
            user=dict(user) if isinstance(user, Mapping) else None,
        )

    @classmethod
    def build(cls, session: Connection, auth: Mapping[str, Any]) -> SocketHandshake:
        """The handshake of a socket of ``session`` that connected with ``auth``."""
        engine = session.handshake
        issued = engine.issued
        headers = engine.headers
        url = engine.url
        return cls(
            headers=headers,
            query=engine.query,
            auth=auth,
            address=engine.remote_address,
            url=url,
            time=datetime.fromtimestamp(issued, tz=timezone.utc).isoformat(),
            issued=int(issued * 1000),
            xdomain=bool(headers.get("origin")),
            secure=url.startswith(("https:", "wss:")),
            user=engine.user,
        )
