"""What the engine sees of an HTTP request, and what it answers a request it will not serve.

The I/O layer builds a :class:`Handshake` from the request that opens a session (and, for the
app's hooks, from later ones); the engine answers what it refuses with a :class:`Refusal`,
whose body is engine.io's ``{"code": …, "message": …}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from jupyter_rt._redact import scrub_headers, scrub_query, scrub_uri
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.engineio import ERROR_MESSAGES, ErrorCode

__all__ = ["FORBIDDEN", "NOT_POLLING", "TOO_LARGE", "UNKNOWN_SID", "Handshake", "Refusal"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """An HTTP error answer to a request the engine will not serve: ``status``, and the body
    :attr:`body` (engine.io's ``{"code": …, "message": …}``, or nothing when ``code`` is
    ``None``)."""

    status: int
    message: str
    code: ErrorCode | None = ErrorCode.BAD_REQUEST

    @staticmethod
    def of(code: ErrorCode, message: str | None = None) -> Refusal:
        """engine.io's answer for ``code``: HTTP 403 for ``FORBIDDEN``, else 400, with its
        message unless ``message`` is given."""
        status = 403 if code is ErrorCode.FORBIDDEN else 400
        return Refusal(status, ERROR_MESSAGES[code] if message is None else message, code)

    @property
    def body(self) -> str:
        """The response body (JSON, or empty)."""
        return "" if self.code is None else engineio.error_body(self.code, self.message)

    @property
    def reason(self) -> str:
        """Why, in one word of a short fixed list (for counting refusals, never the message,
        which an app may write): ``"payload_too_large"`` (413), ``"websocket_version"`` (426),
        else engine.io's code in lower case (``"unknown_sid"``, ``"forbidden"``...)."""
        if self.status in _STATUS_REASONS:
            return _STATUS_REASONS[self.status]
        return "bad_request" if self.code is None else self.code.name.lower()


_STATUS_REASONS = {413: "payload_too_large", 426: "websocket_version"}


NOT_POLLING = Refusal.of(ErrorCode.BAD_REQUEST)
"""The answer to a polling request for a session on a WebSocket (engine.io's transport mismatch)."""
UNKNOWN_SID = Refusal.of(ErrorCode.UNKNOWN_SID)
"""The answer to a request for a session that is not (or no longer) open."""
FORBIDDEN = Refusal.of(ErrorCode.FORBIDDEN)
"""The answer to a request with other credentials than the session's, or refused by the app."""
TOO_LARGE = Refusal(413, "Payload too large", None)
"""The answer to a POST over ``max_payload`` bytes: an empty body, as engine.io's."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """What an HTTP request carried: the one that opened a session (its ``handshake``), or, for
    the ``headers`` hook, the one being answered."""

    headers: Mapping[str, str]
    """Request headers, lower-case names."""
    query: Mapping[str, str]
    """The first value of each query argument."""
    remote_address: str
    url: str
    user: Mapping[str, object] | None
    """The authenticated user (``username``, ``display_name``, ``color``) when in Jupyter."""
    issued: float
    """Wall-clock time of the handshake, in seconds since the epoch."""

    def __repr__(self) -> str:
        # Apps and tracebacks print handshakes: never with the credentials they carry.
        return (
            f"Handshake(url={scrub_uri(self.url)!r}, remote_address={self.remote_address!r}, "
            f"user={self.user!r}, headers={scrub_headers(self.headers)!r}, "
            f"query={scrub_query(self.query)!r}, issued={self.issued!r})"
        )
