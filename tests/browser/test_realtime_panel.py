"""The JupyterLab "Realtime" panel in headless Chromium: opened from the left sidebar with no
kernel running, it follows two scripts chatting on ``/chat`` (sockets, rooms, member counts,
events/s) live; the screenshot is the README's."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from jupyter_rt.client import Client
from jupyter_rt.testing import wait_until_sync
from tests.browser.support import Lab, LabPage
from tests.helpers import REPO

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]

PANEL = "#jupyter-rt-realtime"
# The README's screenshot is rewritten only on request, so a test run leaves the tree clean.
SCREENSHOT = REPO / "docs" / "screenshot-realtime-panel.png"
UPDATE_SCREENSHOT = os.environ.get("JUPYTER_RT_UPDATE_SCREENSHOTS") == "1"


def chatter(lab: Lab, room: str) -> Client:
    """A script on ``/chat`` (the server's token), moved to ``room``."""
    client = Client()
    client.connect(lab.url, path=f"{lab.base_url}socket.io/", token=lab.token, namespaces=["/chat"])
    client.emit("join", {"newRoom": room}, namespace="/chat")
    wait_until_sync(lambda: room in client.call("rooms", namespace="/chat"), 10, 0.05, room)
    return client


@pytest.mark.timeout(120)
def test_the_panel_follows_a_chat_live_without_a_kernel(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    ada = new_user("ada")
    page = ada.page
    page.goto(f"{lab.url}lab/workspaces/{ada.workspace}")  # no document: a fresh JupyterLab
    page.locator(".jp-SideBar .lm-TabBar-tab[data-id='jupyter-rt-realtime']").click()
    page.locator(f"{PANEL} .jp-RealtimePanel-status[data-state='connected']").wait_for()
    page.locator(f"{PANEL} .jp-RealtimePanel-namespace[data-name='/chat']").wait_for()

    first = chatter(lab, "Cellar")
    second: Client | None = None
    try:
        chat = page.locator(f"{PANEL} .jp-RealtimePanel-namespace[data-name='/chat']")
        cellar = chat.locator(".jp-RealtimePanel-room[data-room='Cellar']")
        members = cellar.locator(".jp-RealtimePanel-members")
        members.wait_for()
        assert members.text_content() == "1"
        sid = first.get_sid("/chat")
        row = chat.locator(f".jp-RealtimePanel-socket[data-sid='{sid}']")
        assert row.locator(".jp-RealtimePanel-transport").text_content() in ("polling", "websocket")

        # A second script joins the room and they talk: the count and the rate climb.
        second = chatter(lab, "Cellar")
        wait_until_sync(lambda: members.text_content() == "2", 10, 0.1, "Cellar's 2 members")
        assert chat.locator(".jp-RealtimePanel-count").text_content() == "2 sockets · 1 room"
        legend = page.locator(f"{PANEL} .jp-RealtimePanel-legendEvents")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            first.emit(
                "message", {"room": "Cellar", "text": "a cask of Amontillado?"}, namespace="/chat"
            )
            second.emit(
                "message", {"room": "Cellar", "text": "For the love of God!"}, namespace="/chat"
            )
            rate = float(re.findall(r"[\d.]+", legend.text_content() or "0")[0])
            if rate > 0:
                break
            time.sleep(0.2)
        assert rate > 0, legend.text_content()
        wait_until_sync(
            lambda: row.locator(".jp-RealtimePanel-transport").text_content() == "websocket",
            10,
            0.1,
            "the first script's upgrade shown",
        )
        if UPDATE_SCREENSHOT:
            clip = {"x": 0, "y": 0, "width": 760, "height": 560}
            page.screenshot(path=str(SCREENSHOT), clip=clip)
        ada.screenshot(artifacts, "realtime-panel")

        # One leaves: the panel follows.
        second.close()
        second = None
        wait_until_sync(lambda: members.text_content() == "1", 10, 0.1, "Cellar back to 1")
    finally:
        first.close()
        if second is not None:
            second.close()

    kernels = requests.get(f"{lab.url}api/kernels", params={"token": lab.token}, timeout=10)
    assert kernels.json() == [], "the panel needs no kernel"
    assert lab.token not in "\n".join(ada.console)
