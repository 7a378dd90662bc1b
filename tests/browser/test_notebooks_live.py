"""The tutorials, live: a real JupyterLab in headless Chromium runs the tick and chat demos.

One token-protected ``jupyter lab`` serves a copy of ``notebooks/`` for the whole module. Each
browser context logs in with ``?token=`` and then uses the login cookie, so two contexts are two
Jupyter users, as two people in two browsers would be. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt.testing import wait_until_sync
from tests.browser.support import Lab, LabPage, compose

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]


def widget_state(lab_page: LabPage, root: str) -> dict[str, str]:
    """The status line of the widget ``root`` (a CSS selector): state, transport, sid."""
    status = lab_page.page.locator(f"{root} >> .jrt-status")
    return {key: status.get_attribute(f"data-{key}") or "" for key in ("state", "transport", "sid")}


def wait_connected(lab_page: LabPage, root: str, transport: str | None = None) -> str:
    """Wait until widget ``root`` is connected (on ``transport`` if given); return its sid."""
    selector = f"{root} >> .jrt-status[data-state='connected']"
    if transport:
        selector += f"[data-transport='{transport}']"
    try:
        lab_page.page.locator(selector).wait_for(timeout=30_000)
    except Exception as error:
        raise AssertionError(
            f"{lab_page.name}: {root} not connected"
            f"{' over ' + transport if transport else ''}: {widget_state(lab_page, root)}"
        ) from error
    return widget_state(lab_page, root)["sid"]


# ---------------------------------------------------------------------------------- tick


@pytest.mark.timeout(150)
def test_tick_notebook_counts_live(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    t0 = time.monotonic()
    ada = new_user("ada")
    ada.open_notebook("01-tick.ipynb")
    ada.wait_kernel_idle()
    ada.run_all()
    count = ada.page.locator(".jrt-tick >> .jrt-tick-count")
    count.wait_for(timeout=60_000)
    # Without a transports= argument the client starts on polling and upgrades.
    sid = wait_connected(ada, ".jrt-tick", "websocket")

    def tick() -> int:
        return int(count.get_attribute("data-tick") or -1)

    first = wait_until_sync(lambda: tick() >= 1 and tick(), 20, 0.2, "a first tick in the widget")
    # Ticks come every second: two more within 3.5 s.
    later = wait_until_sync(
        lambda: tick() >= first + 2 and tick(),
        3.5,
        0.2,
        lambda: f"the tick count to climb from {first} (it reads {tick()})",
    )
    ada.screenshot(artifacts, "01-tick")
    # The page answers every tick; the server logs each answer.
    lab.process.wait_for_output(rf"Socket {re.escape(sid)} got \d+", timeout=10)
    ada.wait_all_executed()
    print(f"tick: {first} -> {later}, sid {sid}, {time.monotonic() - t0:.1f}s")


# ---------------------------------------------------------------------------------- chat


def chat_lines(lab_page: LabPage, root: str, kind: str | None = None) -> list[str]:
    selector = f"{root} >> .jrt-chat-messages > li.jrt-chat-message"
    if kind:
        selector += f"[data-kind='{kind}']"
    # textContent, not innerText: JupyterLab does not render cells scrolled out of view.
    return [text.strip() for text in lab_page.page.locator(selector).all_text_contents()]


def room_list(lab_page: LabPage, root: str) -> list[str]:
    items = lab_page.page.locator(f"{root} >> .jrt-chat-rooms > li.jrt-chat-room-item")
    return [items.nth(i).get_attribute("data-room") or "" for i in range(items.count())]


def wait_room_listed(lab_page: LabPage, root: str, room: str) -> None:
    wait_until_sync(
        lambda: room in room_list(lab_page, root),
        10,
        0.2,
        lambda: f"{lab_page.name}'s room list to show {room} (it has {room_list(lab_page, root)})",
    )


def wait_line(lab_page: LabPage, root: str, text: str, kind: str | None = None) -> None:
    wait_until_sync(
        lambda: text in chat_lines(lab_page, root, kind),
        20,
        0.2,
        lambda: (
            f"{lab_page.name} to show {text!r} ({kind or 'any'}) in {root}; it shows "
            f"{chat_lines(lab_page, root)!r}"
        ),
    )


def say(lab_page: LabPage, root: str, line: str, *, click: bool = False) -> None:
    """Type ``line`` in the chat input and send it with Enter (or the Send button)."""
    field = lab_page.page.locator(f"{root} >> .jrt-chat-input")
    field.fill(line)
    if click:
        lab_page.page.locator(f"{root} >> .jrt-chat-send").click()
    else:
        field.press("Enter")


def wait_text(lab_page: LabPage, selector: str, text: str) -> None:
    locator = lab_page.page.locator(selector)
    wait_until_sync(
        lambda: (locator.text_content() or "").strip() == text,
        20,
        0.2,
        lambda: (
            f"{lab_page.name}: {selector} to read {text!r} (it reads {locator.text_content()!r})"
        ),
    )


# The ChatWidget of 02-chat.ipynb's first code cell, and the polling one the test adds.
CHAT = ".jrt-chat >> nth=0"
POLL = ".jrt-chat.jrt-polling-test"


@pytest.mark.timeout(180)
def test_chat_notebook_two_users_rooms_and_polling(
    lab: Lab, new_user: Callable[[str], LabPage], browser: Any, artifacts: Path
) -> None:
    t0 = time.monotonic()
    ada, bob = new_user("ada"), new_user("bob")
    chat = CHAT
    for user in (ada, bob):
        user.open_notebook("02-chat.ipynb")
        user.wait_kernel_idle()
        user.run_all()
        user.wait_all_executed()
    for user in (ada, bob):
        wait_connected(user, chat, "websocket")
        wait_text(user, f"{chat} >> .jrt-chat-room", "Lobby")
    print(f"chat: both notebooks ran in {time.monotonic() - t0:.1f}s")

    # Two nicknames: one sent with Enter, one with the Send button.
    say(ada, chat, "/nick Ada")
    say(bob, chat, "/nick Bob", click=True)
    wait_text(ada, f"{chat} >> .jrt-chat-nick", "Ada")
    wait_text(bob, f"{chat} >> .jrt-chat-nick", "Bob")

    # A message from each: both show on both pages.
    say(ada, chat, "Hello from Ada")
    say(bob, chat, "Hi Ada, Bob here")
    wait_line(ada, chat, "Ada: Hello from Ada", "mine")
    wait_line(ada, chat, "Bob: Hi Ada, Bob here", "other")
    wait_line(bob, chat, "Bob: Hi Ada, Bob here", "mine")
    wait_line(bob, chat, "Ada: Hello from Ada", "other")
    for user in (ada, bob):
        user.page.locator(chat).scroll_into_view_if_needed()
        user.screenshot(artifacts, f"02-chat-{user.name}")

    # Bob goes down to the Cellar: Ada's Lobby hears that he left, and no longer hears him.
    say(bob, chat, "/join Cellar")
    wait_text(bob, f"{chat} >> .jrt-chat-room", "Cellar")
    wait_line(ada, chat, "Bob has left Lobby.")
    # The room lists: Bob's at once, Ada's at her next refresh (every 2 s).
    wait_room_listed(bob, chat, "Cellar")
    wait_room_listed(ada, chat, "Cellar")

    # A second client for Ada, forced onto long-polling, also in the Cellar.
    ada.run_in_new_cell(
        "from jupyter_rt.widgets import ChatWidget\n"
        "poll = ChatWidget(room='Cellar', nickname='Ada-polling', transports=['polling'])\n"
        "poll.add_class('jrt-polling-test')\n"
        "poll"
    )
    ada.wait_all_executed()
    wait_connected(ada, POLL, "polling")
    wait_text(ada, f"{POLL} >> .jrt-chat-room", "Cellar")
    wait_text(ada, f"{POLL} >> .jrt-chat-nick", "Ada-polling")

    say(bob, chat, "Anyone down here?")
    say(ada, POLL, "Yes, over polling")
    wait_line(ada, POLL, "Bob: Anyone down here?", "other")
    wait_line(bob, chat, "Ada-polling: Yes, over polling", "other")

    # The three clients side by side (the README's picture comes from this one).
    panels: list[tuple[str, Path]] = []
    for caption, user, root in (
        ("Ada · websocket · Lobby", ada, chat),
        ("Bob, another browser · websocket · Cellar", bob, chat),
        ("Ada's second client · polling · Cellar", ada, POLL),
    ):
        path = artifacts / f"widget-{len(panels)}.png"
        user.page.locator(root).screenshot(path=str(path))
        panels.append((caption, path))
    compose(browser, panels, artifacts / "02-chat-three-clients.png")

    # Ada speaks in the Lobby, then her polling client's room gets a visitor: by the time Bob
    # hears the visitor, the Lobby line was handled, and it stayed in the Lobby.
    say(ada, chat, "Lobby only")
    wait_line(ada, chat, "Ada: Lobby only", "mine")
    say(ada, chat, "/join Cellar")
    wait_line(bob, chat, "Ada has joined Cellar.")
    wait_line(ada, POLL, "Ada has joined Cellar.")
    for user, root in ((bob, chat), (ada, POLL)):
        lines = chat_lines(user, root)
        assert not any("Lobby only" in line for line in lines), (
            f"{user.name} heard the Lobby: {lines}"
        )
    ada_lines = chat_lines(ada, chat)
    assert "Bob: Anyone down here?" not in ada_lines, (
        f"Ada's Lobby widget heard the Cellar: {ada_lines}"
    )
    # The polling client stayed on polling all along.
    assert widget_state(ada, POLL)["transport"] == "polling"

    ada.page.locator(POLL).scroll_into_view_if_needed()
    ada.screenshot(artifacts, "02-chat-ada-polling")
    bob.page.locator(chat).scroll_into_view_if_needed()
    bob.screenshot(artifacts, "02-chat-bob-cellar")
    (artifacts / "chat-lines.txt").write_text(
        "".join(
            f"== {label}\n" + "\n".join(chat_lines(user, root)) + "\n"
            for label, user, root in (("ada", ada, chat), ("bob", bob, chat), ("poll", ada, POLL))
        ),
        encoding="utf-8",
    )
    print(f"chat: done in {time.monotonic() - t0:.1f}s")


# ----------------------------------------------------------------------------- tick.html


@pytest.mark.timeout(120)
def test_tick_html_page_counts_live(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    """``notebooks/tick.html`` in JupyterLab's HTML viewer, which serves it from ``files/``."""
    grace = new_user("grace")
    grace.goto("tick.html")
    grace.page.get_by_text("Trust HTML").first.click(timeout=60_000)
    frame = grace.page.frame_locator("iframe.jp-HTMLViewer, .jp-HTMLViewer iframe").last
    frame.locator("#status[data-state='connected']").wait_for(timeout=30_000)
    tick = frame.locator("#tick[data-tick]")

    def value() -> int:
        return int(tick.get_attribute("data-tick") or -1)

    first = wait_until_sync(lambda: value() >= 1 and value(), 20, 0.2, "a first tick in tick.html")
    wait_until_sync(
        lambda: value() >= first + 2 and value(),
        3,
        0.2,
        lambda: f"tick.html to climb from {first} (it reads {value()})",
    )
    grace.screenshot(artifacts, "tick-html")


# -------------------------------------------------------------- two pages on one kernel


@pytest.mark.timeout(120)
def test_a_widget_driven_by_the_kernel_speaks_once_with_two_pages_on_the_kernel(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    """02-chat.ipynb says: open this notebook in a second tab and run the cell there too.

    Both tabs share the notebook's kernel, so both get every widget model the kernel makes.
    A ``say()`` from a cell run in one tab must reach the chat once, from that tab only.
    """
    import nbformat
    import socketio

    nbformat.write(
        nbformat.v4.new_notebook(
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
        ),
        lab.root_dir / "two-tabs.ipynb",
    )
    ada, bob = new_user("ada"), new_user("bob")
    for user in (ada, bob):
        user.open_notebook("two-tabs.ipynb")
        user.wait_kernel_idle()

    heard: list[str] = []
    listener = socketio.Client()
    listener.on(
        "message", lambda message: heard.append(str(message.get("text"))), namespace="/chat"
    )
    listener.connect(
        f"http://127.0.0.1:{lab.port}?token={lab.token}",
        socketio_path="/socket.io",
        namespaces=["/chat"],
        transports=["websocket"],
    )
    try:
        bob.run_in_new_cell(
            "from jupyter_rt.widgets import ChatWidget\n"
            "chat = ChatWidget()\n"
            "chat.say('one line from the kernel')\n"
            "chat"
        )
        bob.wait_all_executed()
        wait_connected(bob, ".jrt-chat", "websocket")
        wait_until_sync(
            lambda: any("one line from the kernel" in text for text in heard),
            20,
            0.2,
            lambda: f"the listener to hear the kernel's line; it heard {heard}",
        )
        time.sleep(2)  # time for a second copy to arrive
    finally:
        listener.disconnect()
    bob.screenshot(artifacts, "two-tabs-bob")
    copies = [text for text in heard if "one line from the kernel" in text]
    assert len(copies) == 1, f"the kernel's line reached the chat {len(copies)} times: {heard}"


@pytest.mark.timeout(120)
def test_a_chat_widget_told_what_to_say_before_it_connects_says_it_once_in_its_room(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    """``ChatWidget(room='Cellar')`` given a ``/nick`` and a line by the kernel before its socket
    opens: the nickname is asked for once, and the line is said in the Cellar, under that name.
    """
    import nbformat
    import socketio

    nbformat.write(
        nbformat.v4.new_notebook(
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
        ),
        lab.root_dir / "early.ipynb",
    )
    grace = new_user("grace")
    grace.open_notebook("early.ipynb")
    grace.wait_kernel_idle()

    heard: list[str] = []
    rooms: list[str] = []
    listener = socketio.Client()
    listener.on(
        "message", lambda message: heard.append(str(message.get("text"))), namespace="/chat"
    )
    listener.on(
        "joinResult", lambda result: rooms.append(str(result.get("room"))), namespace="/chat"
    )
    listener.connect(
        f"http://127.0.0.1:{lab.port}?token={lab.token}",
        socketio_path="/socket.io",
        namespaces=["/chat"],
        transports=["websocket"],
    )
    root = ".jrt-chat"
    try:
        wait_until_sync(lambda: "Lobby" in rooms, 20, 0.2, "the listener's welcome to the Lobby")
        listener.emit("join", {"newRoom": "Cellar"}, namespace="/chat")
        wait_until_sync(lambda: "Cellar" in rooms, 20, 0.2, "the listener to get into the Cellar")
        grace.run_in_new_cell(
            "from jupyter_rt.widgets import ChatWidget\n"
            "cellar = ChatWidget(room='Cellar')\n"
            "cellar.say('/nick Early')\n"
            "cellar.say('said before connecting')\n"
            "cellar"
        )
        grace.wait_all_executed()
        wait_connected(grace, root, "websocket")
        wait_text(grace, f"{root} >> .jrt-chat-room", "Cellar")
        wait_text(grace, f"{root} >> .jrt-chat-nick", "Early")
        wait_until_sync(
            lambda: "Early: said before connecting" in heard,
            20,
            0.2,
            lambda: f"the Cellar to hear the line under its nickname; it heard {heard}",
        )
        time.sleep(1.5)  # time for a second nameAttempt's answer to arrive
    finally:
        listener.disconnect()
    grace.screenshot(artifacts, "early-chat")
    lines = chat_lines(grace, root)
    assert heard.count("Early: said before connecting") == 1, heard
    assert lines.count("You are now known as Early.") == 1, lines
    assert not any("already in use" in line for line in lines), lines
    assert chat_lines(grace, root, "mine") == ["Early: said before connecting"], lines
