"""Raw HTTP and WebSocket bytes against a real Jupyter server, for malformed and hostile clients.

Everything here blocks (plain sockets): run it in a thread (``asyncio.to_thread``) so that a
:class:`tests.jupyter.canary.Canary` on the test's loop measures only the server.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from jupyter_rt.testing import JupyterServer

TIMEOUT = 30.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def engine_target(server: JupyterServer, **query: str) -> str:
    """The request target of ``{base_url}socket.io/`` with ``EIO=4`` and ``query``."""
    args = "&".join(f"{k}={v}" for k, v in {"EIO": "4", **query}.items())
    return f"{server.base_url}socket.io/?{args}"


def request_head(
    server: JupyterServer, method: str, target: str, headers: Mapping[str, str] | None = None
) -> bytes:
    """An HTTP/1.1 request head authenticated by the token (add ``Content-Length`` yourself)."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        f"Authorization: token {server.token}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(server: JupyterServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)


def read_response(sock: socket.socket) -> Response:
    """Read one response up to the server's close (requests say ``Connection: close``)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return parse_response(data)


def parse_response(data: bytes) -> Response:
    """The status, headers (lower-case names) and body of the HTTP response ``data``; status 0
    if the server sent nothing."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]) if status_line else 0, headers, body)


def fetch(
    server: JupyterServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One request on its own connection."""
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    with connect(server) as sock:
        sock.sendall(request_head(server, method, target, all_headers) + body)
        return read_response(sock)


def open_polling(server: JupyterServer) -> str:
    """A new polling session's sid (its OPEN packet taken)."""
    response = fetch(server, "GET", engine_target(server, transport="polling"))
    assert response.status == 200, response
    return str(json.loads(response.body.decode()[1:].split("\x1e")[0])["sid"])


def poll(server: JupyterServer, sid: str) -> Response:
    return fetch(server, "GET", engine_target(server, transport="polling", sid=sid))


def post(
    server: JupyterServer, sid: str, body: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    target = engine_target(server, transport="polling", sid=sid)
    return fetch(server, "POST", target, body, {"Content-Type": "text/plain", **(headers or {})})


def is_closed(server: JupyterServer, sid: str) -> bool:
    """Whether the session is gone: a GET gets its CLOSE packet, or HTTP 400."""
    response = poll(server, sid)
    return response.status == 400 or response.body.split(b"\x1e")[-1] == b"1"


def websocket_upgrade(server: JupyterServer, sid: str | None = None) -> bytes:
    """The bytes of a WebSocket upgrade request for ``{base_url}socket.io/``."""
    query = {"transport": "websocket", **({"sid": sid} if sid else {})}
    key = base64.b64encode(os.urandom(16)).decode()
    return request_head(
        server,
        "GET",
        engine_target(server, **query),
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": key,
        },
    )


def masked_text_frame(text: str) -> bytes:
    """A client's (masked) WebSocket text frame, for payloads under 126 bytes."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (SO_LINGER 0), as a crashing peer does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
