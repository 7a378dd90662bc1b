"""No token, cookie or XSRF value in any log line (issue 8), on a real Jupyter server at DEBUG.

Every refusal and error path of ``{base_url}socket.io/`` is provoked with the credentials in the
query, the headers and the cookies, and every record of every logger is checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer

from tests import secret_scan
from tests.jupyter.support import Jupyter, LogRecords

LOGGERS = ("", "tornado", "tornado.access", "tornado.application", "tornado.general", "jupyter_rt")


class RefusingAuthorizer(Authorizer):
    """Refuses ``realtime`` when the query has ``refuse``; raises when it has ``boom``."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource == "realtime":
            if "boom" in handler.request.query_arguments:
                raise RuntimeError("the authorizer failed")
            return "refuse" not in handler.request.query_arguments
        return True


@pytest.fixture
def all_logs() -> Iterator[LogRecords]:
    """Every record of every logger at DEBUG, from before the server starts."""
    records = LogRecords()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(records)
    yield records
    for logger, level in saved:
        logger.removeHandler(records)
        logger.setLevel(level)


@pytest.fixture
def server_config(all_logs: LogRecords) -> dict[str, Any]:
    return {"authorizer_class": RefusingAuthorizer, "log_level": "DEBUG"}


@pytest.fixture
def rt_config() -> dict[str, Any]:
    return {"log_level": "DEBUG"}


def _texts(records: LogRecords) -> list[str]:
    """Each record's message and traceback (Jupyter's startup banner, which prints the URL with
    the token by design, is Jupyter's and allowed, by :func:`tests.secret_scan.leaks_in`)."""
    formatter = logging.Formatter("%(message)s")
    unique = {id(r): r for r in records.records}  # the handler is on several loggers
    return [formatter.format(r) for r in unique.values()]


async def test_no_credential_in_any_log_line(
    jupyter: Jupyter, jp_serverapp: Any, all_logs: LogRecords
) -> None:
    if all_logs not in jp_serverapp.log.handlers:
        jp_serverapp.log.addHandler(all_logs)  # ServerApp's log does not propagate to root
    jp_serverapp.log.setLevel(logging.DEBUG)
    try:
        login = await jupyter.login()
        await _provoke_every_path(jupyter, login)
    finally:
        jp_serverapp.log.removeHandler(all_logs)
    secrets = {"token": jupyter.token, **{f"cookie {k}": v for k, v in login.cookies.items()}}
    texts = _texts(all_logs)
    # The paths were taken (so that a silent server does not pass).
    assert any(t.startswith("403 GET") and "refuse" in t for t in texts), texts
    assert any(t.startswith("403 GET") and "socket.io.js" in t for t in texts), texts
    assert any(t.startswith("Uncaught exception GET") for t in texts), texts
    assert any("Refused a WebSocket from origin" in t for t in texts), texts
    assert any(t.startswith("Malformed HTTP message") for t in texts), texts
    values = [v for v in secrets.values() if len(v) >= 6]
    leaks = [leak for text in texts for leak in secret_scan.leaks_in(text, values)]
    assert not leaks, "\n".join(leaks)


async def _provoke_every_path(jupyter: Jupyter, login: Any) -> None:
    token = jupyter.token
    auth = jupyter.auth_header
    cookie = login.header()
    xsrf = {"X-XSRFToken": login.xsrf}
    referer = {"Referer": jupyter.url("lab", {"token": token})}
    # A working session first, at DEBUG (handshake, messages, close).
    sid = await jupyter.open_polling(token=token)
    assert (await jupyter.post(sid, "40", token=token)).code == 200
    assert (await jupyter.poll(token=token, sid=sid)).code == 200
    # The authorizer refuses (403) a GET and a POST; then it raises (500, uncaught).
    assert (await jupyter.poll({**referer}, token=token, refuse="1")).code == 403
    assert (await jupyter.post(sid, "40", cookie | xsrf, token=token, refuse="1")).code == 403
    assert (await jupyter.poll(cookie | referer, token=token, boom="1")).code == 500
    bundle = jupyter.url("socket.io/socket.io.js", {"token": token, "refuse": "1"})
    assert (await jupyter.fetch(bundle)).code == 403
    assert (await jupyter.post(sid, "40", auth | cookie, boom="1")).code == 500
    # 400s: bad EIO, bad transport, unknown sid, a method Engine.IO does not know.
    assert (
        await jupyter.fetch(jupyter.url("socket.io/", {"EIO": "3", "token": token}))
    ).code == 400
    bad = jupyter.engine_url(transport="carrier-pigeon", token=token)
    assert (await jupyter.fetch(bad, headers=cookie)).code == 400
    assert (await jupyter.poll(auth, token=token, sid="nope")).code == 400
    assert (await jupyter.post("nope", "40", cookie | xsrf)).code == 400
    put = jupyter.engine_url(transport="polling", token=token)
    assert (await jupyter.fetch(put, "PUT", cookie | xsrf, body="x")).code == 400
    # Wrong credentials: a bad token with the cookie, a cookie POST without its XSRF header.
    assert (await jupyter.poll(cookie, token=token + "x")).code in (200, 403)
    assert (await jupyter.post(sid, "40", cookie, _xsrf=login.xsrf)).code == 403
    # A bad origin on the WebSocket (checked for cookie users only: Jupyter skips the check for
    # token-authenticated requests), and a WebSocket request that is not an upgrade.
    ws = jupyter.engine_url(transport="websocket", _xsrf=login.xsrf)
    evil = {
        "Origin": "http://evil.example",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    assert (await jupyter.fetch(ws, headers=cookie | referer | evil)).code == 403
    not_upgrade = jupyter.engine_url(transport="websocket", token=token)
    assert (await jupyter.fetch(not_upgrade, headers=cookie | referer)).code == 400
    # A malformed header (a control character after the token): Tornado's connection refuses
    # it before any handler and logs the bad value on tornado.general.
    reader, writer = await asyncio.open_connection("127.0.0.1", jupyter.port)
    target = jupyter.engine_url(transport="polling").split(str(jupyter.port), 1)[1]
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\x01\r\n"
    writer.write((head + f"Cookie: {cookie['Cookie']}\x01\r\n\r\n").encode())
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 400")
    writer.close()
