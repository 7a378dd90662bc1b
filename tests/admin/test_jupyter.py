"""The Admin UI in a real Jupyter server: the page behind Jupyter's login, loading nothing from
outside, and the ``/admin`` namespace open to the server's own credentials only."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from jupyter_rt.admin.jupyter import ADMIN_UI_DIR, MAX_GRANTS, AdminAccess
from jupyter_rt.handlers import token_credential
from jupyter_rt.testing import JupyterServer
from tests import secret_scan
from tests.admin.support import AdminClient
from tests.helpers import Process, start_jupyter_server, unavailable

pytestmark = pytest.mark.jupyter

BASE_URL = "/user/ada/"
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One token-protected Jupyter server with the Admin UI on, under a base_url."""
    if not (ADMIN_UI_DIR / "index.html").is_file():
        unavailable("the Admin UI is not built (run `bash dev.sh setup`)")
    started: list[Process] = []

    def spawn(argv: Any, **kwargs: Any) -> Process:
        process = Process(argv, **kwargs)
        started.append(process)
        return process.start()

    try:
        yield start_jupyter_server(
            spawn,
            tmp_path_factory.mktemp("admin-jupyter"),
            base_url=BASE_URL,
            traits={"RealtimeApp.admin_ui": True},
        )
    finally:
        for process in started:
            process.stop()


def page_url(jupyter: JupyterServer, path: str = "") -> str:
    return f"{jupyter.url}socket.io/admin/{path}"


def admin_namespace(jupyter: JupyterServer) -> str:
    return f"http://127.0.0.1:{jupyter.port}/admin"


def logged_in(jupyter: JupyterServer) -> requests.Session:
    """A browser's session after ``POST /login`` with the token: its login cookie only."""
    session = requests.Session()
    session.get(f"{jupyter.url}login", timeout=10).raise_for_status()
    form = {"password": jupyter.token, "_xsrf": session.cookies["_xsrf"]}
    response = session.post(f"{jupyter.url}login", data=form, timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.status_code
    secret_scan.add_secret(*session.cookies.values())
    return session


def cookie_header(session: requests.Session) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())}


# -- the page -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["", "index.html", "js/", "jupyter-rt-admin.js", "favicon.png"])
def test_the_page_needs_a_login(jupyter: JupyterServer, path: str) -> None:
    response = requests.get(page_url(jupyter, path), timeout=10, allow_redirects=False)
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert urllib.parse.urlsplit(response.headers["Location"]).path == f"{BASE_URL}login"
    assert b"Admin UI" not in response.content


def test_the_page_without_its_slash_is_redirected(jupyter: JupyterServer) -> None:
    response = requests.get(page_url(jupyter).rstrip("/"), timeout=10, allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{BASE_URL}socket.io/admin/"


def test_the_page_loads_nothing_from_outside(jupyter: JupyterServer) -> None:
    session = requests.Session()
    index = session.get(page_url(jupyter), params={"token": jupyter.token}, timeout=10)
    assert index.status_code == 200
    assert "<title>Socket.IO Admin UI</title>" in index.text
    assert "default-src 'self'" in index.headers["Content-Security-Policy"]
    assert not EXTERNAL.search(index.text), EXTERNAL.search(index.text)
    # Every file the page names, and every file its stylesheets name, comes from here.
    names = re.findall(r'(?:href|src)="([^"]+)"', index.text)
    assert "jupyter-rt-admin.js" in names
    assert "fonts/mdi/css/materialdesignicons.min.css" in names
    fetched: dict[str, requests.Response] = {}
    todo = [urllib.parse.urljoin(page_url(jupyter), name) for name in names]
    while todo:
        url = todo.pop()
        if url in fetched:
            continue
        response = session.get(url, timeout=10)  # the login cookie only, from here on
        assert response.status_code == 200, url
        fetched[url] = response
        if url.endswith(".css"):
            assert not EXTERNAL.search(response.text), (url, EXTERNAL.search(response.text))
            for ref in re.findall(r"url\(\s*['\"]?([^'\")]+)", response.text):
                if not ref.startswith("data:"):
                    todo.append(urllib.parse.urljoin(url, ref.split("?")[0]))
    fonts = [u for u in fetched if u.endswith(".woff2")]
    assert any("materialdesignicons" in u for u in fonts)
    assert any("roboto" in u for u in fonts)


def test_the_page_is_pointed_at_this_server(jupyter: JupyterServer) -> None:
    script = requests.get(
        page_url(jupyter, "jupyter-rt-admin.js"), params={"token": jupyter.token}, timeout=10
    )
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert f'"path": "{BASE_URL}socket.io"' in script.text
    assert '"namespace": "/admin"' in script.text
    assert jupyter.token not in script.text


# -- the /admin namespace ---------------------------------------------------------------------


async def test_the_server_token_opens_the_admin_namespace(jupyter: JupyterServer) -> None:
    admin = AdminClient(
        admin_namespace(jupyter), path=f"{BASE_URL}socket.io", query={"token": jupyter.token}
    )
    await admin.start()
    try:
        assert admin.connected, admin.lines
        (config,) = await admin.next("config")
        assert "DISCONNECT" in config["supportedFeatures"]
        (sockets,) = await admin.next("all_sockets")
        (me,) = [s for s in sockets if s["nsp"] == "/admin"]
        assert me["handshake"]["query"]["token"] == "[secret]"
        assert jupyter.token not in str(admin.events)
    finally:
        await admin.close()


async def test_a_login_cookie_opens_it_once_the_page_was_served(jupyter: JupyterServer) -> None:
    session = logged_in(jupyter)
    options = {
        "path": f"{BASE_URL}socket.io",
        "transports": ["websocket"],
        "extraHeaders": cookie_header(session),
    }
    refused = AdminClient(admin_namespace(jupyter), **options)
    await refused.start()
    await refused.close()
    assert refused.refusal == "not authorized: open the Admin UI page first"

    assert session.get(page_url(jupyter), timeout=10).status_code == 200
    admitted = AdminClient(admin_namespace(jupyter), **options)
    await admitted.start()
    try:
        assert admitted.connected, admitted.lines
        await admitted.next("config")
    finally:
        await admitted.close()
    assert "Refused an Admin UI connection" in jupyter.log()


async def test_it_is_off_by_default(rt_jupyter: JupyterServer) -> None:
    response = requests.get(
        f"{rt_jupyter.url}socket.io/admin/", params={"token": rt_jupyter.token}, timeout=10
    )
    assert response.status_code == 404
    admin = AdminClient(
        admin_namespace(rt_jupyter), path="/socket.io", query={"token": rt_jupyter.token}
    )
    await admin.start()
    await admin.close()
    assert admin.refusal == "Invalid namespace"


# -- who is an admin --------------------------------------------------------------------------


def test_access_takes_the_server_token_and_granted_users_only() -> None:
    access = AdminAccess("server-token")
    assert access.allows(token_credential("server-token"))
    assert not access.allows(token_credential("another-users-token"))
    assert not access.allows(None)  # a server without auth
    assert not access.allows("user:ada")
    access.grant("ada")
    assert access.allows("user:ada")
    assert not access.allows("user:bob")
    for index in range(MAX_GRANTS):
        access.grant(f"user-{index}")
    assert not access.allows("user:ada")  # forgotten, the least recent


def test_access_without_a_token_admits_no_token() -> None:
    access = AdminAccess("")  # a server with a password only
    assert not access.allows(token_credential(""))
