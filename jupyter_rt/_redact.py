"""The one rule of what is a credential, for every URI, header and text we log or serialize.

Any layer may use it (it imports nothing of jupyter_rt). A query parameter is secret when its
name contains ``token``, ``auth``, ``key``, ``code``, ``state`` or ``xsrf`` (Jupyter's rule since
CVE-2022-24757, ``jupyter_server.log._scrub_uri``, which is private); a header is secret when it
is in :data:`SECRET_HEADERS`. Secret values become :data:`MASK`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

__all__ = [
    "MASK",
    "SECRET_HEADERS",
    "MalformedRequestFilter",
    "is_secret_header",
    "is_secret_param",
    "scrub_headers",
    "scrub_query",
    "scrub_text",
    "scrub_uri",
]

MASK = "[secret]"
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-xsrftoken", "x-csrftoken"}
)
"""Lower-case names of the headers whose values are credentials."""
_SECRET_PARTS = ("token", "auth", "key", "code", "state", "xsrf")
_PARAM = re.compile(r"(?P<name>[^\s?&#;=\"'<>]+)=(?P<value>[^\s&#;\"'<>]*)")


def is_secret_param(name: str) -> bool:
    """Whether the query parameter (or form field) ``name`` may carry a credential."""
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS)


def is_secret_header(name: str) -> bool:
    """Whether the header ``name`` (any case) carries a credential."""
    return name.lower() in SECRET_HEADERS


def scrub_uri(uri: str) -> str:
    """``uri`` (a full URL or a path with its query) with secret query values masked."""
    path, sep, rest = uri.partition("?")
    if not sep:
        return uri
    query, hash_sep, fragment = rest.partition("#")
    parts = query.split("&")
    for i, part in enumerate(parts):
        name, eq, _value = part.partition("=")
        if eq and is_secret_param(name):
            parts[i] = f"{name}={MASK}"
    return f"{path}?{'&'.join(parts)}{hash_sep}{fragment}"


def scrub_text(text: str) -> str:
    """``text`` (a log message) with the value of every secret ``name=value`` in it masked."""
    return _PARAM.sub(lambda m: f"{m['name']}={MASK}" if is_secret_param(m["name"]) else m[0], text)


def scrub_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with secret values masked (names kept)."""
    return {k: MASK if is_secret_header(k) else v for k, v in headers.items()}


def scrub_query(query: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``query`` (parsed arguments) with secret values masked (names kept)."""
    return {k: MASK if is_secret_param(k) else v for k, v in query.items()}


class MalformedRequestFilter(logging.Filter):
    """Masks the header value in Tornado's "Malformed HTTP message from …: Invalid header value
    '…'" line (``tornado.general``): a client's bad header may be its token or cookie.

    ``install()`` adds it once to ``tornado.general``; it changes no other record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (
            record.msg == "Malformed HTTP message from %s: %s"
            and isinstance(args, tuple)
            and len(args) == 2
            and str(args[1]).startswith("Invalid header")
        ):
            what = " ".join(str(args[1]).split(" ", 3)[:3])  # "Invalid header value"
            record.args = (args[0], f"{what} {MASK}")
        return True

    @classmethod
    def install(cls) -> None:
        logger = logging.getLogger("tornado.general")  # Tornado's gen_log, renamed by Jupyter
        if not any(isinstance(f, cls) for f in logger.filters):
            logger.addFilter(cls())
