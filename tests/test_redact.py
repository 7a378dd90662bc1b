"""The one rule of what is a credential (:mod:`jupyter_rt._redact`) and where it applies."""

from __future__ import annotations

from types import SimpleNamespace

from jupyter_rt._redact import MASK, scrub_headers, scrub_text, scrub_uri
from jupyter_rt.engine import Handshake
from jupyter_rt.server.socket import SocketHandshake


def test_scrub_uri_masks_secret_parameters_only() -> None:
    uri = "/socket.io/?EIO=4&token=abc&transport=polling&_xsrf=x1&access_key=k&sid=s#frag"
    assert scrub_uri(uri) == (
        f"/socket.io/?EIO=4&token={MASK}&transport=polling&_xsrf={MASK}&access_key={MASK}&sid=s"
        "#frag"
    )
    assert scrub_uri("http://h/p?x=1") == "http://h/p?x=1"
    assert scrub_uri("/p") == "/p"


def test_scrub_text_masks_secrets_inside_messages() -> None:
    text = "Blocking Cross Origin request from http://evil/?a=1&token=abc. (auth=zz q=2)"
    assert scrub_text(text) == (
        # a value runs to the next space or separator: the final "." goes with it
        f"Blocking Cross Origin request from http://evil/?a=1&token={MASK} (auth={MASK} q=2)"
    )


def test_scrub_headers_masks_credentials_in_any_case() -> None:
    headers = {"Authorization": "token a", "cookie": "c=1", "X-XSRFToken": "x", "Host": "h"}
    assert scrub_headers(headers) == {
        "Authorization": MASK,
        "cookie": MASK,
        "X-XSRFToken": MASK,
        "Host": "h",
    }


def test_fetched_handshakes_carry_no_token_in_their_url() -> None:
    from jupyter_rt.adapters.redis.adapter import public_handshake

    handshake = SocketHandshake(
        headers={"authorization": "token s3cret", "cookie": "a=b", "user-agent": "t"},
        query={"token": "s3cret", "EIO": "4", "_xsrf": "x"},
        auth={},
        address="127.0.0.1",
        url="http://127.0.0.1/socket.io/?EIO=4&token=s3cret&transport=polling",
        time="",
        issued=0,
        xdomain=False,
        secure=False,
    )
    out = public_handshake(SimpleNamespace(handshake=handshake))  # type: ignore[arg-type]
    assert out["headers"] == {"user-agent": "t"}
    assert out["query"] == {"EIO": "4"}
    assert out["url"] == f"http://127.0.0.1/socket.io/?EIO=4&token={MASK}&transport=polling"
    assert "s3cret" not in repr(out)


def test_handshakes_print_without_their_credentials() -> None:
    # An app that logs socket.handshake (or a traceback showing it) must not leak what it holds.
    engine_handshake = Handshake(
        headers={"cookie": "username-1=SECRETCOOKIE", "authorization": "token SECRETTOKEN"},
        query={"EIO": "4", "token": "SECRETTOKEN"},
        remote_address="127.0.0.1",
        url="http://127.0.0.1/socket.io/?EIO=4&token=SECRETTOKEN",
        user=None,
        issued=0.0,
    )
    socket_handshake = SocketHandshake.build(
        SimpleNamespace(handshake=engine_handshake),  # type: ignore[arg-type]
        {"token": "SECRETAUTH"},
    )
    for printed in (repr(engine_handshake), repr(socket_handshake), str(socket_handshake)):
        assert "SECRET" not in printed
        assert "127.0.0.1" in printed and "EIO" in printed and "token" in printed
