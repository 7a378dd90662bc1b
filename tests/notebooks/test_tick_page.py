"""``notebooks/tick.html``, the talk's plain page, in JupyterLab's HTML viewer, in Chromium."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

import pytest

from jupyter_rt.testing import JupyterServer, wait_until_sync
from tests.helpers import CHROMIUM_ARGS, REPO, require_binary, unavailable

pytestmark = [pytest.mark.notebooks, pytest.mark.jupyter, pytest.mark.slow]

PAGE = REPO / "notebooks" / "tick.html"


def test_the_page_loads_the_served_client(notebook_server: JupyterServer) -> None:
    """The page's relative script URL, from ``{base_url}files/``, is the served bundle."""
    page = PAGE.read_text(encoding="utf-8")
    src = re.search(r'<script src="([^"]*socket\.io\.js)"></script>', page)
    assert src is not None
    resolved = urllib.parse.urljoin(f"{notebook_server.url}files/tick.html", src.group(1))
    assert resolved == f"{notebook_server.url}socket.io/socket.io.js"
    assert "'/tick'" in page and "tickReceivedEvent" in page
    request = urllib.request.Request(
        resolved, headers={"Authorization": f"token {notebook_server.token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/javascript")


@pytest.mark.browser
def test_the_page_ticks_in_jupyterlab(notebook_server: JupyterServer, artifacts) -> None:
    chromium = require_binary("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed")
    log_start = len(notebook_server.process.output())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
            page.goto(f"{notebook_server.url}lab/tree/tick.html?token={notebook_server.token}")
            page.get_by_text("Trust HTML").first.click(timeout=60_000)
            frame = page.frame_locator("iframe").last
            frame.locator("#status[data-state='connected']").wait_for(timeout=20_000)
            frame.locator("#tick[data-tick='2']").wait_for(timeout=20_000)
            page.screenshot(path=str(artifacts / "tick-html.png"))
        finally:
            browser.close()
    # The page's answers reached the server (only lines logged since the page opened).
    wait_until_sync(
        lambda: re.search(r"Socket \S+ got 2", notebook_server.process.output()[log_start:]),
        10,
        0.1,
        "the server to log the page's answers",
    )
