"""``jupyter_rt.handlers`` behind a real Jupyter server: auth, XSRF, origins, sid binding, the
browser bundle.

Each refusal here is checked so that the test fails if that check were taken away: an
unauthenticated request names a sid that does not exist (the auth check answers 403 where the
engine alone would answer 400), and a sid reused with other valid credentials is refused only by
the binding of sessions to credentials.
"""

from __future__ import annotations

import gzip
import json
import logging
from typing import Any
from urllib.parse import unquote

import pytest
from tornado import httpclient

from jupyter_rt.handlers import CLIENT_BUNDLE
from tests.jupyter.support import Jupyter, LogRecords, cookies_of, handshake

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(60)]

NO_SUCH_SID = "AAAAAAAAAAAAAAAAAAAA"
FOREIGN = "http://evil.example"
CUSTOM_APP = "tests.jupyter.custom_app:setup"


async def refused_websocket(jupyter: Jupyter, headers: dict[str, str], **query: str) -> int:
    """The HTTP status a refused WebSocket handshake got (fails if it was accepted)."""
    with pytest.raises(httpclient.HTTPClientError) as refused:
        connection = await jupyter.websocket(headers, **query)
        connection.close()
    return refused.value.code


async def probe(jupyter: Jupyter, headers: dict[str, str], **query: str) -> str:
    """Open the WebSocket (for an upgrade when ``sid`` is given) and return its first answer."""
    connection = await jupyter.websocket(headers, **query)
    try:
        if "sid" in query:
            await connection.write_message("2probe")
        answer = await connection.read_message()
        assert isinstance(answer, str), answer
        return answer
    finally:
        connection.close()


# -- authentication -----------------------------------------------------------------------------


async def test_polling_get_without_auth_is_refused(jupyter: Jupyter) -> None:
    assert (await jupyter.poll()).code == 403
    assert (await jupyter.poll(token="not-the-token")).code == 403
    assert (await jupyter.poll({"Authorization": "token not-the-token"})).code == 403
    # A sid is no credential: the auth check answers before the engine looks the sid up.
    assert (await jupyter.poll(sid=NO_SUCH_SID)).code == 403


async def test_polling_get_with_token_in_query_or_header(jupyter: Jupyter) -> None:
    by_query = await jupyter.poll(token=jupyter.token)
    by_header = await jupyter.poll(jupyter.auth_header)
    assert by_query.code == by_header.code == 200
    assert handshake(by_query.body)["sid"] != handshake(by_header.body)["sid"]


async def test_polling_post_without_auth_is_refused(jupyter: Jupyter) -> None:
    sid = await jupyter.open_polling(jupyter.auth_header)
    assert (await jupyter.post(NO_SUCH_SID, "40")).code == 403
    # With a matching XSRF cookie and header but no login, only the auth check refuses.
    xsrf = cookies_of(await jupyter.fetch(jupyter.url("login")))["_xsrf"]
    double_submit = {"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf}
    assert (await jupyter.post(NO_SUCH_SID, "40", double_submit)).code == 403
    assert (await jupyter.post(sid, "40", double_submit)).code == 403
    assert (await jupyter.post(sid, "40")).code == 403
    assert (await jupyter.post(sid, "40", token="not-the-token")).code == 403
    accepted = await jupyter.post(sid, "40", jupyter.auth_header)
    assert (accepted.code, accepted.body) == (200, b"ok")
    by_query = await jupyter.post(sid, "40/tick,", token=jupyter.token)
    assert (by_query.code, by_query.body) == (200, b"ok")


async def test_websocket_without_auth_is_refused(jupyter: Jupyter) -> None:
    assert await refused_websocket(jupyter, {}) == 403
    assert await refused_websocket(jupyter, {}, token="not-the-token") == 403
    sid = await jupyter.open_polling(jupyter.auth_header)
    assert await refused_websocket(jupyter, {}, sid=sid) == 403


@pytest.mark.parametrize("where", ["query", "header"])
async def test_websocket_with_token(jupyter: Jupyter, where: str) -> None:
    if where == "query":
        first = await probe(jupyter, {}, token=jupyter.token)
    else:
        first = await probe(jupyter, jupyter.auth_header)
    opened = handshake(first)
    assert opened["upgrades"] == []
    assert set(opened) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


@pytest.mark.parametrize("rt_config", [{"apps": [CUSTOM_APP]}], indirect=True)
async def test_handlers_see_the_jupyter_user(jupyter: Jupyter) -> None:
    """The ``echo`` of the ``/custom`` test app answers with ``socket.handshake.user``."""
    login = await jupyter.login()
    identity = await jupyter.identity(login.header())
    sid = await jupyter.open_polling(login.header())
    headers = {**login.header(), "X-XSRFToken": login.xsrf}
    assert (await jupyter.post(sid, '40/custom,\x1e42/custom,7["whoami"]', headers)).code == 200
    answers: list[str] = []
    while not any(a.startswith("43/custom,7") for a in answers):
        response = await jupyter.poll(login.header(), sid=sid)
        assert response.code == 200
        answers += response.body.decode().split("\x1e")
    reply = next(a for a in answers if a.startswith("43/custom,7"))
    user = json.loads(reply[len("43/custom,7") :])[0]
    assert user == {
        "username": identity["username"],
        "name": identity["name"],
        "display_name": identity["display_name"],
        "color": identity["color"],
    }


# -- cookies and XSRF ---------------------------------------------------------------------------


async def test_cookie_post_needs_the_xsrf_header(jupyter: Jupyter) -> None:
    login = await jupyter.login()
    sid = await jupyter.open_polling(login.header())
    assert (await jupyter.post(sid, "40", login.header())).code == 403
    wrong = {**login.header(), "X-XSRFToken": "2|00000000|" + "0" * 32 + "|1700000000"}
    assert (await jupyter.post(sid, "40", wrong)).code == 403
    accepted = await jupyter.post(sid, "40", {**login.header(), "X-XSRFToken": login.xsrf})
    assert (accepted.code, accepted.body) == (200, b"ok")


async def test_cookie_post_from_a_foreign_origin_is_refused(jupyter: Jupyter) -> None:
    login = await jupyter.login()
    sid = await jupyter.open_polling(login.header())
    headers = {**login.header(), "X-XSRFToken": login.xsrf}
    refused = await jupyter.post(sid, "40", {**headers, "Origin": FOREIGN})
    assert refused.code in (403, 404)  # Jupyter hides the endpoint from foreign origins
    assert (await jupyter.post(sid, "40", {**headers, "Origin": jupyter.origin})).code == 200


# -- origins ------------------------------------------------------------------------------------


async def test_websocket_with_cookie_checks_origin(jupyter: Jupyter) -> None:
    login = await jupyter.login()
    assert await refused_websocket(jupyter, {**login.header(), "Origin": FOREIGN}) == 403
    same = await probe(jupyter, {**login.header(), "Origin": jupyter.origin})
    assert handshake(same)["sid"]


async def test_websocket_with_token_follows_jupyter_and_skips_the_origin_check(
    jupyter: Jupyter,
) -> None:
    """Jupyter trusts a token from any origin (a page cannot know it); so does jupyter_rt."""
    first = await probe(jupyter, {"Origin": FOREIGN}, token=jupyter.token)
    assert handshake(first)["sid"]


@pytest.mark.filterwarnings("ignore:allow_origin_pat .* only matched the request origin")
@pytest.mark.parametrize(
    "server_config", [{"allow_origin_pat": r"https://good\.example(:\d+)?"}], indirect=True
)
async def test_allow_origin_pat_is_a_full_match(jupyter: Jupyter) -> None:
    login = await jupyter.login()
    for origin in ("https://good.example", "https://good.example:8443"):
        answer = await probe(jupyter, {**login.header(), "Origin": origin})
        assert handshake(answer)["sid"], origin
    for origin in ("https://good.example.evil.test", "https://good.examplex", FOREIGN):
        assert await refused_websocket(jupyter, {**login.header(), "Origin": origin}) == 403, origin


# -- sessions are bound to the credentials that opened them ----------------------------------------


async def test_cookie_session_refuses_another_login(jupyter: Jupyter, rt_log: LogRecords) -> None:
    mine, theirs = await jupyter.login(), await jupyter.login()
    assert (await jupyter.identity(mine.header()))["username"] != (
        await jupyter.identity(theirs.header())
    )["username"]
    sid = await jupyter.open_polling(mine.header())

    assert (await jupyter.poll(theirs.header(), sid=sid)).code == 403
    their_post = {**theirs.header(), "X-XSRFToken": theirs.xsrf}
    assert (await jupyter.post(sid, "40", their_post)).code == 403
    assert await refused_websocket(jupyter, theirs.header(), sid=sid) == 403
    assert (await jupyter.poll(sid=sid)).code == 403  # no credentials at all

    accepted = await jupyter.post(sid, "40", {**mine.header(), "X-XSRFToken": mine.xsrf})
    assert accepted.code == 200
    refusals = [r for r in rt_log.records if "other credentials" in r.getMessage()]
    assert len(refusals) == 3
    assert all(r.levelno == logging.WARNING and sid in r.getMessage() for r in refusals)


async def test_token_session_refuses_a_cookie_and_cookie_session_refuses_the_token(
    jupyter: Jupyter,
) -> None:
    login = await jupyter.login()
    by_token = await jupyter.open_polling(jupyter.auth_header)
    assert (await jupyter.poll(login.header(), sid=by_token)).code == 403
    assert await refused_websocket(jupyter, login.header(), sid=by_token) == 403

    by_cookie = await jupyter.open_polling(login.header())
    assert (await jupyter.poll(jupyter.auth_header, sid=by_cookie)).code == 403
    assert (await jupyter.post(by_cookie, "40", jupyter.auth_header)).code == 403
    assert await refused_websocket(jupyter, jupyter.auth_header, sid=by_cookie) == 403


async def test_token_client_keeps_one_session(jupyter: Jupyter) -> None:
    """Jupyter makes a new anonymous user for every token request; the session holds."""
    opened = await jupyter.poll(token=jupyter.token)
    sid = handshake(opened.body)["sid"]
    users = {v for k, v in cookies_of(opened).items() if k.startswith("username-")}
    for query, headers in (
        ({"token": jupyter.token}, {}),
        ({}, jupyter.auth_header),
        ({"token": jupyter.token}, {}),
    ):
        posted = await jupyter.post(sid, "40/tick,", headers, **query)
        assert (posted.code, posted.body) == (200, b"ok")
        polled = await jupyter.poll(headers, sid=sid, **query)
        assert polled.code == 200, polled.body
        users |= {v for k, v in cookies_of(posted).items() if k.startswith("username-")}
    assert len(users) >= 2  # other users each time, one session all along
    upgraded = await probe(jupyter, jupyter.auth_header, sid=sid)
    assert upgraded == "3probe"


async def test_refusals_never_log_the_token(
    jupyter: Jupyter, caplog: pytest.LogCaptureFixture
) -> None:
    login = await jupyter.login()
    sid = await jupyter.open_polling(jupyter.auth_header)
    await jupyter.poll(login.header(), sid=sid)
    await jupyter.poll(token=jupyter.token[::-1])
    await jupyter.post(sid, "40", login.header())
    text = "\n".join(r.getMessage() for r in caplog.get_records("call"))
    assert "other credentials" in text
    assert jupyter.token not in text
    assert jupyter.token[::-1] not in text
    for value in login.cookies.values():
        assert value not in text


# -- the browser client bundle --------------------------------------------------------------------


def bundle_bytes() -> bytes:
    assert CLIENT_BUNDLE.is_file(), (
        f"{CLIENT_BUNDLE.name} is missing: the package was installed without its build step "
        "(pip install -e . runs it through the jupyter-builder hook)"
    )
    return CLIENT_BUNDLE.read_bytes()


async def fetch_bundle(jupyter: Jupyter, headers: dict[str, str], **kwargs: Any) -> Any:
    return await jupyter.fetch(
        jupyter.url("socket.io/socket.io.js"), headers=headers, decompress_response=False, **kwargs
    )


async def test_bundle_needs_auth(jupyter: Jupyter) -> None:
    assert (await fetch_bundle(jupyter, {})).code == 403
    login = await jupyter.login()
    assert (await fetch_bundle(jupyter, login.header())).code == 200


async def test_bundle_is_served_with_etag_and_gzip(jupyter: Jupyter) -> None:
    raw = bundle_bytes()
    assert raw.startswith(b"/*!\n * Socket.IO v4.")
    plain = await fetch_bundle(jupyter, {**jupyter.auth_header, "Accept-Encoding": "identity"})
    assert plain.code == 200
    assert plain.body == raw
    assert plain.headers["Content-Type"].startswith("application/javascript")
    assert "Content-Encoding" not in plain.headers
    etag = plain.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"')

    zipped = await fetch_bundle(jupyter, {**jupyter.auth_header, "Accept-Encoding": "gzip"})
    assert zipped.code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert zipped.headers["ETag"] == etag
    assert len(zipped.body) < len(raw) // 2
    assert gzip.decompress(zipped.body) == raw

    cached = await fetch_bundle(jupyter, {**jupyter.auth_header, "If-None-Match": etag})
    assert (cached.code, cached.body) == (304, b"")
    stale = await fetch_bundle(jupyter, {**jupyter.auth_header, "If-None-Match": '"other"'})
    assert stale.code == 200


# -- base_url -----------------------------------------------------------------------------------


@pytest.mark.parametrize("jp_base_url", ["/a%40b/", "/", "/deep/er/"])
async def test_endpoint_lives_under_base_url(jupyter: Jupyter, jp_base_url: str) -> None:
    assert jupyter.base_url == jp_base_url
    assert (await jupyter.poll(jupyter.auth_header)).code == 200
    elsewhere = await jupyter.fetch(
        f"{jupyter.origin}/socket.io/?EIO=4&transport=polling", headers=jupyter.auth_header
    )
    assert (elsewhere.code == 404) is (jp_base_url != "/")
    # aiohttp (python-socketio) sends "/a%40b/" as "/a@b/": both spellings are served.
    decoded = await jupyter.fetch(
        f"{jupyter.origin}{unquote(jp_base_url)}socket.io/?EIO=4&transport=polling",
        headers=jupyter.auth_header,
    )
    assert decoded.code == 200


# -- a server without auth ----------------------------------------------------------------------


@pytest.mark.parametrize("server_config", [{"token": ""}], indirect=True)
async def test_server_without_auth(jupyter: Jupyter, jp_serverapp: Any) -> None:
    """``--IdentityProvider.token=''``: every cookie-less request is a new anonymous user, and
    sessions are bound to nothing; Jupyter's XSRF rule for POST still holds."""
    assert not jp_serverapp.identity_provider.auth_enabled
    sid = await jupyter.open_polling()
    assert (await jupyter.post(sid, "40/tick,")).code == 403  # no XSRF header
    xsrf = cookies_of(await jupyter.fetch(jupyter.url("login")))["_xsrf"]
    double_submit = {"Cookie": f"_xsrf={xsrf}", "X-XSRFToken": xsrf}
    assert (await jupyter.post(sid, "40/tick,", double_submit)).code == 200
    polled = await jupyter.poll(sid=sid)
    assert polled.code == 200
    assert polled.body.startswith(b"40/tick,")
    assert await probe(jupyter, {}, sid=sid) == "3probe"
