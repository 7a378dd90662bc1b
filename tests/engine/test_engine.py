"""The engine's request rules and the app's hooks on them: engine.io's error codes and bodies,
``allow_request``, and the headers hooks (``initial_headers``, ``headers``)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from jupyter_rt.engine import Handshake, Refusal
from jupyter_rt.errors import ConnectionRefused
from jupyter_rt.options import ResponseHeaders
from tests.engine.fakes import make_engine, make_handshake, open_polling


def body(refusal: Refusal | None) -> dict[str, Any]:
    assert refusal is not None
    value = json.loads(refusal.body)
    assert refusal.body == json.dumps(value, separators=(",", ":"))  # compact, as engine.io's
    return dict(value)


# -- error codes, in engine.io's order -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "method", "status", "code", "message"),
    [
        # The transport comes first, even with no EIO (engine.io's own tests send none).
        ({"transport": "tobi"}, "GET", 400, 0, "Transport unknown"),
        ({"EIO": "4"}, "GET", 400, 0, "Transport unknown"),
        ({"EIO": "4", "transport": "Polling"}, "GET", 400, 0, "Transport unknown"),
        # A handshake is a GET...
        ({"EIO": "4", "transport": "polling"}, "POST", 400, 2, "Bad handshake method"),
        ({"EIO": "4", "transport": "polling"}, "OPTIONS", 400, 2, "Bad handshake method"),
        # ... of Engine.IO 4.
        ({"transport": "polling"}, "GET", 400, 5, "Unsupported protocol version"),
        ({"EIO": "3", "transport": "websocket"}, "GET", 400, 5, "Unsupported protocol version"),
    ],
)
def test_check_request_answers_with_engine_io_codes(query, method, status, code, message):
    engine, _ = make_engine()
    refusal = engine.check_request(query, method)
    assert refusal is not None and refusal.status == status
    assert body(refusal) == {"code": code, "message": message}


def test_a_request_for_a_session_is_checked_by_its_session():
    # As engine.io: the sid is looked up whatever the EIO (its tests send none).
    engine, _ = make_engine()
    assert engine.check_request({"transport": "polling", "sid": "x"}, "POST") is None
    assert body(engine.find("x", None)) == {"code": 1, "message": "Session ID unknown"}
    session = open_polling(engine, credential="token:a")
    forbidden = engine.find(session.sid, "token:b")
    assert isinstance(forbidden, Refusal) and forbidden.status == 403
    assert body(forbidden) == {"code": 4, "message": "Forbidden"}


def test_a_413_has_an_empty_body():
    from jupyter_rt.engine.requests import TOO_LARGE

    assert (TOO_LARGE.status, TOO_LARGE.body) == (413, "")


# -- allow_request ---------------------------------------------------------------------------------


def test_without_allow_request_every_handshake_goes_on():
    engine, _ = make_engine()
    assert engine.allow(make_handshake()) is None


def test_allow_request_sees_the_request_and_lets_it_through():
    seen: list[Handshake] = []

    def allow(request: Handshake) -> None:
        seen.append(request)

    engine, _ = make_engine(allow_request=allow)
    request = make_handshake(headers={"origin": "http://ok"}, query={"EIO": "4", "x": "1"})
    assert engine.allow(request) is None
    assert seen == [request]
    engine, _ = make_engine(allow_request=lambda request: True)
    assert engine.allow(request) is None


def test_allow_request_refuses_with_its_message_and_code_4():
    def allow(request: Handshake) -> None:
        raise ConnectionRefused("Thou shall not pass")

    engine, _ = make_engine(allow_request=allow)
    refusal = engine.allow(make_handshake())
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert body(refusal) == {"code": 4, "message": "Thou shall not pass"}


def test_allow_request_returning_false_is_forbidden():
    engine, _ = make_engine(allow_request=lambda request: False)
    refusal = engine.allow(make_handshake())
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert body(refusal) == {"code": 4, "message": "Forbidden"}


@pytest.mark.parametrize("hook", ["raises", "returns a str"])
def test_a_broken_allow_request_refuses_and_is_logged(hook, caplog):
    def raises(request: Handshake) -> None:
        raise KeyError("cookie")

    def returns_a_str(request: Handshake) -> str:
        return "yes"

    engine, _ = make_engine(allow_request=raises if hook == "raises" else returns_a_str)
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        refusal = engine.allow(make_handshake())
    assert isinstance(refusal, Refusal) and body(refusal)["code"] == 4  # closed, not open
    assert "allow_request" in caplog.text
    if hook == "raises":
        assert "KeyError" in caplog.text  # with its traceback


async def test_an_async_allow_request_may_delay_and_refuse():
    async def allow(request: Handshake) -> None:
        await asyncio.sleep(0.01)  # a database lookup, say
        if request.query.get("token") != "good":
            raise ConnectionRefused("bad token")

    engine, _ = make_engine(allow_request=allow)
    verdict = engine.allow(make_handshake(query={"EIO": "4", "token": "good"}))
    assert verdict is not None and not isinstance(verdict, Refusal)
    assert await verdict is None
    verdict = engine.allow(make_handshake(query={"EIO": "4", "token": "evil"}))
    assert verdict is not None and not isinstance(verdict, Refusal)
    refused = await verdict
    assert isinstance(refused, Refusal) and body(refused) == {"code": 4, "message": "bad token"}


async def test_an_async_allow_request_that_raises_refuses():
    async def allow(request: Handshake) -> bool:
        raise RuntimeError("database down")

    engine, _ = make_engine(allow_request=allow)
    verdict = engine.allow(make_handshake())
    assert verdict is not None and not isinstance(verdict, Refusal)
    refused = await verdict
    assert isinstance(refused, Refusal) and refused.status == 403


# -- headers hooks ---------------------------------------------------------------------------------


def test_no_headers_without_hooks():
    engine, _ = make_engine()
    request = make_handshake()
    assert engine.response_headers(request, initial=True) == []
    assert engine.response_headers(request, initial=False) == []


def test_initial_headers_open_a_session_and_headers_go_on_every_response():
    calls: list[tuple[str, Handshake]] = []

    def initial(headers: ResponseHeaders, request: Handshake) -> None:
        calls.append(("initial", request))
        headers["Set-Cookie"] = ["io=abc; Path=/; HttpOnly", "lb=node-a; Path=/"]

    def every(headers: ResponseHeaders, request: Handshake) -> None:
        calls.append(("every", request))
        headers["X-Served-By"] = "node-a"
        assert "Set-Cookie" in headers or request.query.get("sid")  # sees what initial added

    engine, _ = make_engine(initial_headers=initial, headers=every)
    opening = make_handshake()
    assert engine.response_headers(opening, initial=True) == [
        ("Set-Cookie", "io=abc; Path=/; HttpOnly"),
        ("Set-Cookie", "lb=node-a; Path=/"),
        ("X-Served-By", "node-a"),
    ]
    later = make_handshake(query={"EIO": "4", "transport": "polling", "sid": "s"})
    assert engine.response_headers(later, initial=False) == [("X-Served-By", "node-a")]
    assert calls == [("initial", opening), ("every", opening), ("every", later)]


def test_headers_that_would_break_the_response_are_left_out(caplog):
    def initial(headers: ResponseHeaders, request: Handshake) -> None:
        headers["Content-Length"] = "0"
        headers["sec-websocket-accept"] = "forged"
        headers["Connection"] = "close"
        headers["X-Split"] = "a\r\nSet-Cookie: evil=1"
        headers["Bad Name"] = "x"
        headers["X-Fine"] = "yes"

    engine, _ = make_engine(initial_headers=initial)
    with caplog.at_level(logging.WARNING, logger="jupyter_rt"):
        assert engine.response_headers(make_handshake(), initial=True) == [("X-Fine", "yes")]
    assert "'Content-Length', set by the protocol" in caplog.text
    assert "'X-Split', a value that is not a one-line str" in caplog.text
    assert "'Bad Name', not a header name" in caplog.text


def test_a_headers_hook_that_raises_is_logged_and_the_others_still_count(caplog):
    def initial(headers: ResponseHeaders, request: Handshake) -> None:
        headers["X-Half"] = "set"
        raise ValueError("oops")

    def every(headers: ResponseHeaders, request: Handshake) -> None:
        headers["X-Every"] = "1"

    engine, _ = make_engine(initial_headers=initial, headers=every)
    with caplog.at_level(logging.ERROR, logger="jupyter_rt"):
        pairs = engine.response_headers(make_handshake(), initial=True)
    assert pairs == [("X-Every", "1")]  # without what the failing hook set
    assert "A headers hook raised" in caplog.text and "ValueError: oops" in caplog.text
