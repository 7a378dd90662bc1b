"""Connection state recovery in a real JupyterLab: a ``ChatWidget`` whose page loses its
connection for a few seconds comes back as the same socket, with its name and room, and shows
every line said meanwhile, once and in order.

The module's own ``jupyter lab`` runs with ``c.RealtimeApp.connection_state_recovery = True`` and
a probe app beside the chat (``tests/browser/recovery_app.py``) that drops a socket's transport
as a failed network does and reports which sockets came back recovered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_rt.client import Client
from jupyter_rt.testing import wait_until_sync
from tests.browser.support import Lab, LabPage
from tests.browser.test_notebooks_live import (
    chat_lines,
    say,
    wait_connected,
    wait_line,
    wait_text,
    widget_state,
)

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]

NOTEBOOK = "chat-recovery.ipynb"
CHAT = ".jrt-chat"
PROBE = "/chat-probe"
DISCONNECTED = "Disconnected (transport close)."
MISSED = ["one", "two", "three"]


@pytest.fixture(scope="module")
def lab_traits() -> dict[str, object]:
    return {
        "RealtimeApp.connection_state_recovery": True,
        "RealtimeApp.apps": ["jupyter_rt.apps.chat:setup", "tests.browser.recovery_app:setup"],
    }


def write_notebook(lab: Lab) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "from jupyter_rt.widgets import ChatWidget\nChatWidget(nickname='Ada')"
        )
    ]
    nbformat.write(notebook, lab.root_dir / NOTEBOOK)


@pytest.mark.timeout(150)
def test_a_chat_widget_back_from_a_lost_connection_shows_what_was_said_meanwhile_once(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    write_notebook(lab)
    ada = new_user("ada")
    ada.open_notebook(NOTEBOOK)
    ada.run_all()
    sid = wait_connected(ada, CHAT, "websocket")
    wait_text(ada, f"{CHAT} >> .jrt-chat-nick", "Ada")

    bob_heard: list[str] = []
    with Client(reconnection=False) as bob:
        bob.on("message", lambda data: bob_heard.append(data["text"]), namespace="/chat")
        bob.connect(
            lab.url,
            path=lab.path,
            token=lab.token,
            namespaces=["/chat", PROBE],
            transports=["websocket"],
        )
        bob.emit("nameAttempt", "Bob", namespace="/chat")
        bob.emit("message", {"room": "Lobby", "text": "before"}, namespace="/chat")
        wait_line(ada, CHAT, "Bob: before", "other")

        # The network fails: no new connection can be made, and the open one is cut (Chromium
        # cuts it when it goes offline; the server's drop makes sure, and is a no-op then).
        ada.page.context.set_offline(True)
        try:
            bob.call("drop", sid, namespace=PROBE)
            wait_line(ada, CHAT, DISCONNECTED, "system")
            for line in MISSED:
                bob.emit("message", {"room": "Lobby", "text": line}, namespace="/chat")
            bob.call("rooms", namespace="/chat")  # answered after the lines were handled
            assert widget_state(ada, CHAT)["state"] != "connected", "back too early"
        finally:
            ada.page.context.set_offline(False)

        wait_line(ada, CHAT, f"Bob: {MISSED[-1]}", "other")
        assert wait_connected(ada, CHAT) == sid  # the same socket
        assert bob.call("recovered", namespace=PROBE) == [sid]
        say(ada, CHAT, "I am back")
        wait_until_sync(lambda: "Ada: I am back" in bob_heard, 10, 0.1, "bob to hear ada")
        ada.screenshot(artifacts, "chat-recovered")

        lines = chat_lines(ada, CHAT)
        after = lines[lines.index(DISCONNECTED) :]
        # Every line once, in order; no new name, no new welcome to the Lobby, nobody announced.
        assert after == [DISCONNECTED, *(f"Bob: {line}" for line in MISSED), "Ada: I am back"]
        assert bob_heard == ["Ada: I am back"]
        wait_text(ada, f"{CHAT} >> .jrt-chat-nick", "Ada")
