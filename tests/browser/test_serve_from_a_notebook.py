"""Notebook 06 live: a poll served by the notebook's kernel, voted on from two browsers.

Ada runs ``06-serve-from-a-notebook.ipynb`` in JupyterLab and votes in the panel it shows; Bob,
another browser context (another Jupyter user), opens ``poll.html`` in JupyterLab's HTML viewer.
Both pages talk to ``/poll`` on the server directly; the kernel only runs the handlers. The test
sees each vote in both tallies, the re-run cell's new rules reach both pages without a
reconnection, and after a kernel restart Bob's page comes back by itself once the notebook hosts
``/poll`` again. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_rt.testing import wait_until_sync
from tests.browser.support import Lab, LabPage, compose

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]

NOTEBOOK = "06-serve-from-a-notebook.ipynb"
PANEL = ".jrt-poll"


class Panel:
    """The voting panel of ``poll.html`` in one page (a Playwright locator), read as a user
    reads it."""

    def __init__(self, who: str, root: Any) -> None:
        self.who = who
        self.root = root

    def state(self) -> str:
        return str(self.root.get_attribute("data-state") or "")

    def sid(self) -> str:
        return str(self.root.get_attribute("data-sid") or "")

    def choices(self) -> list[str]:
        rows = self.root.locator(".jrt-poll-choice")
        return [rows.nth(i).get_attribute("data-choice") or "" for i in range(rows.count())]

    def tally(self) -> dict[str, int]:
        rows = self.root.locator(".jrt-poll-choice")
        tally: dict[str, int] = {}
        for i in range(rows.count()):
            row = rows.nth(i)
            count = row.locator(".jrt-poll-count").get_attribute("data-count")
            tally[row.get_attribute("data-choice") or ""] = int(count or -1)
        return tally

    def answer(self) -> str:
        return (self.root.locator(".jrt-poll-answer").text_content() or "").strip()

    def wait_connected(self) -> str:
        """Wait until the panel is connected; return its socket id."""
        self.wait_for(lambda: self.state() == "connected", "to be connected")
        return self.sid()

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 20) -> None:
        wait_until_sync(
            predicate,
            timeout,
            0.1,
            lambda: (
                f"{self.who}'s panel {what}; it is {self.state()!r}, shows {self.tally()}, "
                f"answers {self.answer()!r}, says {self.root.inner_text()!r}"
            ),
        )

    def wait_tally(self, expected: dict[str, int]) -> None:
        self.wait_for(lambda: self.tally() == expected, f"to show the tally {expected}")

    def vote(self, choice: str) -> None:
        """Click ``choice`` and wait for the server's acknowledgement to show."""
        self.root.locator(f".jrt-poll-choice[data-choice='{choice}'] button").click()
        self.wait_for(lambda: self.answer() == f"counted: {choice}", f"to count {choice}")


def both_show(panels: list[Panel], tally: dict[str, int]) -> None:
    for panel in panels:
        panel.wait_tally(tally)


@pytest.mark.timeout(240)
def test_a_poll_served_from_the_notebook_two_browsers_vote_rerun_and_restart(
    lab: Lab, new_user: Callable[[str], LabPage], browser: Any, artifacts: Path
) -> None:
    t0 = time.monotonic()
    ada, bob = new_user("ada"), new_user("bob")
    ada.open_notebook(NOTEBOOK)
    ada.wait_kernel_idle()
    # Everything up to the Python voters: /poll hosted, the panel and the widget shown.
    voters_cell = ada.cell_index('connect("/poll"')
    ada.run_cells_above(voters_cell)
    ada.wait_all_executed(stop=voters_cell)
    mine = Panel("ada", ada.page.locator(PANEL))
    ada_sid = mine.wait_connected()

    # Bob joins from another browser, in poll.html of his own (the HTML viewer, trusted).
    bob.goto("poll.html")
    bob.page.get_by_text("Trust HTML").first.click(timeout=60_000)
    frame = bob.page.frame_locator("iframe.jp-HTMLViewer, .jp-HTMLViewer iframe").last
    his = Panel("bob", frame.locator(PANEL))
    bob_sid = his.wait_connected()
    panels = [mine, his]
    for panel in panels:
        panel.wait_for(lambda p=panel: p.choices() == ["tabs", "spaces"], "to show the choices")
    both_show(panels, {"tabs": 0, "spaces": 0})
    print(f"poll: notebook ran and both pages connected in {time.monotonic() - t0:.1f}s")

    # The first rules count every click: each vote shows in both pages.
    mine.vote("tabs")
    both_show(panels, {"tabs": 1, "spaces": 0})
    his.vote("spaces")
    both_show(panels, {"tabs": 1, "spaces": 1})
    mine.vote("tabs")
    both_show(panels, {"tabs": 2, "spaces": 1})
    # The notebook's RealtimeClient on /poll, one more client in Ada's page, heard it all too.
    wire = ada.page.locator(".jrt-client >> .jrt-log-entry[data-dir='in']")
    wait_until_sync(
        lambda: any("tally" in t and '"tabs":2' in t for t in wire.all_text_contents()),
        20,
        0.2,
        lambda: f"the widget's log to show the last tally; it shows {wire.all_text_contents()}",
    )

    # The edited cell runs: new rules, a new choice, in both pages, with no reconnection.
    ada.run_cell(ada.cell_index("ballots = {}"))
    ada.wait_all_executed(stop=voters_cell)
    for panel in panels:
        panel.wait_for(
            lambda p=panel: p.choices() == ["tabs", "spaces", "both"], "to show the new choice"
        )
    both_show(panels, {"tabs": 0, "spaces": 0, "both": 0})
    assert (mine.sid(), his.sid()) == (ada_sid, bob_sid), "a page reconnected"
    # One vote per person now: Ada's second click moves nothing, her change of mind moves it.
    mine.vote("tabs")
    mine.vote("tabs")
    his.vote("spaces")
    both_show(panels, {"tabs": 1, "spaces": 1, "both": 0})
    mine.vote("both")
    both_show(panels, {"tabs": 0, "spaces": 1, "both": 1})
    ada.screenshot(artifacts, "06-poll-ada")
    bob.screenshot(artifacts, "06-poll-bob")
    shots: list[tuple[str, Path]] = []
    for caption, panel in (
        ("Ada's notebook: the panel below the cells that serve /poll", mine),
        ("Bob, another browser: poll.html", his),
    ):
        path = artifacts / f"panel-{panel.who}.png"
        panel.root.screenshot(path=str(path))
        shots.append((caption, path))
    compose(browser, shots, artifacts / "06-poll-two-browsers.png")

    # A kernel restart frees /poll: Bob's page waits, and comes back by itself once the
    # notebook (run again) hosts it again, as a new connection with the fresh poll.
    ada.restart_kernel()
    his.wait_for(lambda: his.state() == "waiting", "to wait for the poll")
    ada.wait_kernel_idle()
    ada.run_cells_above(voters_cell)
    ada.wait_all_executed(stop=voters_cell)
    again = his.wait_connected()
    assert again != bob_sid
    his.wait_for(lambda: his.choices() == ["tabs", "spaces"], "to show the first rules again")
    his.wait_tally({"tabs": 0, "spaces": 0})
    # Ada's panel was drawn again by its cell; the old one left the page.
    assert ada.page.locator(PANEL).count() == 1
    mine = Panel("ada", ada.page.locator(PANEL))
    mine.wait_connected()
    his.vote("spaces")
    both_show([mine, his], {"tabs": 0, "spaces": 1})
    bob.screenshot(artifacts, "06-poll-bob-after-restart")
    ada.page.locator(".jrt-client").scroll_into_view_if_needed()
    ada.screenshot(artifacts, "06-poll-ada-widget-after-restart")

    ada.run_in_new_cell("poll.close()")  # returns once the cell ran
    assert ada.cells_state()["errors"] == []
    his.wait_for(lambda: his.state() == "waiting", "to wait after poll.close()")
    print(f"poll: done in {time.monotonic() - t0:.1f}s")
