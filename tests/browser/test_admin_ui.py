"""The official Socket.IO Admin UI page, served by a Jupyter server, in headless Chromium: it
connects by itself, lists a live client's sockets and rooms, follows connections as they come,
and disconnects a socket from its button. Every request that is not to this machine is blocked,
and the test asserts none was attempted."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt.admin.jupyter import ADMIN_UI_DIR
from jupyter_rt.client import Client
from jupyter_rt.testing import JupyterServer, wait_until_sync
from tests.helpers import CHROMIUM_ARGS, Process, require_binary, start_jupyter_server, unavailable

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A token-protected Jupyter server with the Admin UI on (development mode, not read-only)."""
    if not (ADMIN_UI_DIR / "index.html").is_file():
        unavailable("the Admin UI is not built (run `bash dev.sh setup`)")
    require_binary("chromium")
    started: list[Process] = []

    def spawn(argv: Any, **kwargs: Any) -> Process:
        process = Process(argv, **kwargs)
        started.append(process)
        return process.start()

    try:
        yield start_jupyter_server(
            spawn, tmp_path_factory.mktemp("admin-ui"), traits={"RealtimeApp.admin_ui": True}
        )
    finally:
        for process in started:
            process.stop()


class Watched:
    """A Chromium page whose every request is checked: local ones go through, others are
    aborted and kept in :attr:`outside`."""

    def __init__(self, context: Any) -> None:
        self.outside: list[str] = []
        self.requests: list[str] = []
        self.console: list[str] = []
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("websocket", lambda ws: self._check(ws.url))

    def _check(self, url: str) -> bool:
        host = urllib.parse.urlsplit(url).hostname or ""
        local = host in LOCAL_HOSTS or url.startswith(("data:", "blob:"))
        if not local:
            self.outside.append(url)
        return local

    def _route(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if self._check(url):
            route.continue_()
        else:
            route.abort()


@pytest.fixture
def watched(artifacts: Path) -> Iterator[Watched]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=require_binary("chromium"), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.set_default_timeout(20_000)
            page = Watched(context)
            try:
                yield page
            finally:
                page.page.screenshot(path=str(artifacts / "admin-ui.png"))
                (artifacts / "console.txt").write_text("\n".join(page.console), encoding="utf-8")
                (artifacts / "requests.txt").write_text(
                    "\n".join(urllib.parse.urlsplit(u).path for u in page.requests),
                    encoding="utf-8",
                )
        finally:
            browser.close()


def hub_client(jupyter: JupyterServer, room: str) -> Client:
    """A script on ``/hub`` (python, the server's token), in ``room``."""
    client = Client()
    client.connect(jupyter.url, path=jupyter.path, token=jupyter.token, namespaces=["/hub"])
    assert client.call("join", room, namespace="/hub") == {"ok": True, "room": room}
    return client


def select_namespace(page: Any, name: str) -> None:
    """Pick ``name`` in the UI's namespace selector (the page shows one namespace at a time)."""
    selector = page.locator(".v-select.selector")
    wait_until_sync(lambda: selector.count() == 1, 10, 0.1, "one view (its transition over)")
    selector.click()
    menu = page.locator(".v-menu__content.menuable__content__active")
    menu.locator(".v-list-item", has_text=name).first.click()


@pytest.mark.timeout(120)
def test_the_admin_ui_shows_and_disconnects_a_live_client(
    jupyter: JupyterServer, watched: Watched, artifacts: Path
) -> None:
    ada = hub_client(jupyter, "Lobby")
    bob: Client | None = None
    try:
        ada_sid = ada.get_sid("/hub")
        assert ada_sid
        page = watched.page
        page.goto(f"{jupyter.url}socket.io/admin/?token={jupyter.token}#/sockets/")

        # It connected by itself (no form), and lists ada's socket on /hub.
        select_namespace(page, "/hub")
        page.locator("tr", has_text=ada_sid).wait_for()
        assert not page.locator(".v-dialog--active").is_visible()  # the connection form

        # Live: a socket that connects now shows up without a reload.
        bob = hub_client(jupyter, "Kitchen")
        bob_sid = bob.get_sid("/hub")
        assert bob_sid
        page.locator("tr", has_text=bob_sid).wait_for()
        page.screenshot(path=str(artifacts / "admin-ui-sockets.png"))

        # Its rooms are there too.
        page.goto(f"{jupyter.url}socket.io/admin/#/rooms/")
        select_namespace(page, "/hub")
        page.locator("tr", has_text="Lobby").wait_for()
        page.locator("tr", has_text="Kitchen").wait_for()

        # The socket's disconnect button disconnects it on the server.
        page.goto(f"{jupyter.url}socket.io/admin/#/sockets/")
        select_namespace(page, "/hub")
        rows = page.locator(".v-data-table tbody tr")
        rows.filter(has_text=ada_sid).locator("button").click()  # (the row's click opens it)
        wait_until_sync(lambda: "/hub" not in ada.namespaces, 10, 0.1, "ada disconnected")
        page.goto(f"{jupyter.url}socket.io/admin/#/sockets/")
        rows.filter(has_text=bob_sid).wait_for()
        rows.filter(has_text=ada_sid).wait_for(state="detached")
    finally:
        ada.close()
        if bob is not None:
            bob.close()

    assert watched.outside == [], "the page tried to load from outside"
    assert any(u.endswith(".woff2") for u in watched.requests), "the bundled fonts were loaded"
    violations = [line for line in watched.console if "Content Security Policy" in line]
    assert violations == []
    assert jupyter.token not in "\n".join(watched.console)
