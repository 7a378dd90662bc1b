"""What the Admin UI is shown of a socket and of event arguments: bounded, JSON-safe, and never a
credential (handshakes scrubbed by :mod:`jupyter_rt._redact`, the CONNECT ``auth`` left out)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from jupyter_rt._redact import scrub_headers, scrub_query, scrub_uri
from jupyter_rt.server import Socket, SocketHandle

__all__ = ["client_label", "json_safe", "serialize_socket", "timestamp"]

MAX_STRING = 2000
"""Characters of a string shown; longer ones are cut and marked."""
MAX_ITEMS = 100
"""Items of a list or keys of an object shown; the rest is counted."""
MAX_DEPTH = 8
"""Nesting shown; deeper values are replaced by a marker."""


def timestamp() -> str:
    """Now, as the UI takes it (ISO 8601, UTC, milliseconds: a JavaScript ``Date`` in JSON)."""
    now = datetime.now(timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def client_label(session_id: str) -> str:
    """A short label that groups a client's sockets in the UI. Not the Engine.IO session id,
    which is a capability: a digest of it, from which it cannot be found."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:12]


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as bounded JSON: long strings cut, big lists and objects shortened, ``bytes``
    and other objects described in a string."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if len(value) <= MAX_STRING:
            return value
        return value[:MAX_STRING] + f"… ({len(value)} characters)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<binary, {len(bytes(value))} bytes>"
    if depth >= MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for index, (key, item) in enumerate(value.items()):
            if index == MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more keys"
                break
            out[str(key)] = json_safe(item, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [json_safe(item, depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(f"… {len(value) - MAX_ITEMS} more items")
        return items
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return json_safe(text if len(text) <= MAX_STRING else text[:MAX_STRING] + "…", depth)


def _app_data(data: Any) -> Any:
    """``socket.data`` without the ``_admin`` entry Node's admin-ui keeps there."""
    if isinstance(data, Mapping):
        return json_safe({k: v for k, v in data.items() if k != "_admin"})
    return json_safe(data)


def serialize_socket(socket: SocketHandle, nsp: str) -> dict[str, Any]:
    """``socket`` of namespace ``nsp`` in the admin-ui's ``SerializedSocket`` shape.

    A socket of another server (a ``RemoteSocket``) has no transport here, and its client label
    is the one a Node server left in ``data._admin``, else its own id.
    """
    if isinstance(socket, Socket):
        client_id = client_label(socket.conn.sid)
        transport = socket.transport
    else:
        admin = socket.data.get("_admin") if isinstance(socket.data, Mapping) else None
        admin = admin if isinstance(admin, Mapping) else {}
        client_id = str(admin.get("clientId") or socket.id)
        transport = str(admin.get("transport") or "")
    handshake = socket.handshake
    return {
        "id": socket.id,
        "clientId": client_id,
        "transport": transport,
        "nsp": nsp,
        "data": _app_data(socket.data),
        "handshake": {
            "address": handshake.address,
            "headers": json_safe(scrub_headers(handshake.headers)),
            "query": json_safe(scrub_query(handshake.query)),
            "issued": handshake.issued,
            "secure": handshake.secure,
            "time": handshake.time,
            "url": json_safe(scrub_uri(handshake.url)),
            "xdomain": handshake.xdomain,
        },
        "rooms": sorted(socket.rooms),
    }
