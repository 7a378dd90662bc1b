"""The few HTTP/1.1 requests of Engine.IO long-polling, each on its own connection.

Tornado's HTTP/1.1 code does the parsing; this module adds what the client needs of it: a cap
on the response body, one deadline per request, and :meth:`HTTPClient.abort`, which drops the
connections of the requests in flight as a failing network would (a pending GET ends, and the
server notices at once).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from tornado import httputil, iostream, tcpclient
from tornado.http1connection import HTTP1Connection, HTTP1ConnectionParameters

__all__ = ["HTTPClient", "HTTPFailure", "Response"]


class HTTPFailure(Exception):
    """A request failed: no answer (``status`` is ``None``; ``timed_out`` if none came in
    time) or an HTTP error ``status`` (``detail``: its reason, and its body if JSON)."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        timed_out: bool = False,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    reason: str
    body: bytes


class _Collector(httputil.HTTPMessageDelegate):
    """Keeps one response (its size is capped by the connection's ``max_body_size``)."""

    def __init__(self) -> None:
        self.start: httputil.ResponseStartLine | None = None
        self.chunks: list[bytes] = []
        self.finished = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.ResponseStartLine)
        self.start = start_line

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def finish(self) -> None:
        self.finished = True


class HTTPClient:
    """Requests to one server (``Connection: close``, as Tornado's own client does)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: bool,
        validate_cert: bool = True,
        max_body_size: int,
    ) -> None:
        self.host = host
        self.port = port
        self.netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.max_body_size = max_body_size
        self._ssl: ssl.SSLContext | None = None
        if tls:
            self._ssl = ssl.create_default_context()
            if not validate_cert:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._tcp = tcpclient.TCPClient()
        self._streams: set[iostream.IOStream] = set()

    async def request(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        *,
        body: bytes | None = None,
        timeout: float,
    ) -> Response:
        """Send one request and read its response within ``timeout`` seconds.

        Raises :class:`HTTPFailure` for no answer (refused, reset, timeout, a body over the
        cap, :meth:`abort`) and for a status other than 200 (with its ``status``).
        """
        try:
            response = await asyncio.wait_for(
                self._exchange(method, target, headers, body, timeout), timeout
            )
        except asyncio.TimeoutError:
            raise HTTPFailure(f"no answer within {timeout:g} s", timed_out=True) from None
        except (OSError, iostream.StreamClosedError) as exc:
            raise HTTPFailure(str(exc) or type(exc).__name__) from None
        if response.status != 200:
            detail = response.reason
            if response.body[:1] == b"{":  # Engine.IO's errors: {"code": 1, "message": …}
                detail += " " + response.body[:200].decode("utf-8", "replace")
            raise HTTPFailure(f"HTTP {response.status} {detail}", response.status, detail=detail)
        return response

    async def _exchange(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> Response:
        stream = await self._tcp.connect(
            self.host, self.port, ssl_options=self._ssl, timeout=timeout
        )
        self._streams.add(stream)
        try:
            params = HTTP1ConnectionParameters(
                no_keep_alive=True, max_body_size=self.max_body_size, decompress=False
            )
            connection = HTTP1Connection(stream, True, params)
            all_headers = httputil.HTTPHeaders(headers)
            all_headers["Host"] = self.netloc
            all_headers["Connection"] = "close"
            if body is not None:
                all_headers["Content-Length"] = str(len(body))
            start = httputil.RequestStartLine(method, target, "HTTP/1.1")
            await connection.write_headers(start, all_headers)
            if body:
                await connection.write(body)
            connection.finish()
            collector = _Collector()
            await connection.read_response(collector)
            if not collector.finished or collector.start is None:
                raise HTTPFailure("the connection closed before the response ended")
            return Response(
                collector.start.code, collector.start.reason, b"".join(collector.chunks)
            )
        finally:
            self._streams.discard(stream)
            stream.close()

    def abort(self) -> None:
        """Drop the connection of every request in flight (each raises :class:`HTTPFailure`)."""
        for stream in list(self._streams):
            stream.close()
        self._streams.clear()
