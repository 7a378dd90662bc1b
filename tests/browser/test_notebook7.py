"""The tick tutorial, live in Notebook 7's page (``/notebooks/...``) instead of JupyterLab's.

The prebuilt labextension is meant for both frontends. ``jupyter lab`` serves Notebook 7's pages
too once ``notebook`` is installed, so this module gets its own server from the same fixture as
the JupyterLab tests and drives the page through the same ``window.jupyterapp``.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from jupyter_rt.testing import wait_until_sync
from tests.browser.support import Lab, LabPage
from tests.helpers import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.jupyter, pytest.mark.slow]


@pytest.mark.timeout(90)
def test_tick_notebook_counts_live_in_notebook7(
    lab: Lab, new_user: Callable[[str], LabPage], artifacts: Path
) -> None:
    if importlib.util.find_spec("notebook") is None:
        unavailable("notebook (Notebook 7) is not installed")
    t0 = time.monotonic()
    ada = new_user("ada")
    ada.open_notebook("01-tick.ipynb", ui="notebook")
    assert "/notebooks/01-tick.ipynb" in ada.page.url, f"not on Notebook 7's page: {ada.page.url}"
    ada.page.locator("#main-panel .jp-Notebook").wait_for(timeout=30_000)
    ada.wait_kernel_idle()
    opened = time.monotonic() - t0
    ada.run_all()

    root = ".jrt-tick"
    status = ada.page.locator(f"{root} >> .jrt-status")

    def state() -> dict[str, str]:
        return {key: status.get_attribute(f"data-{key}") or "" for key in ("state", "transport")}

    try:
        ada.page.locator(f"{root} >> .jrt-status[data-state='connected']").wait_for(timeout=30_000)
    except Exception as error:
        raise AssertionError(f"the tick widget did not connect in Notebook 7: {state()}") from error
    connected = time.monotonic() - t0
    count = ada.page.locator(f"{root} >> .jrt-tick-count[data-tick]")

    def tick() -> int:
        return int(count.get_attribute("data-tick") or -1)

    first = wait_until_sync(
        lambda: tick() >= 1 and tick(), 20, 0.2, "a first tick in the Notebook 7 widget"
    )
    later = wait_until_sync(
        lambda: tick() >= first + 2 and tick(),
        3,
        0.2,
        lambda: f"the tick count to climb from {first} (it reads {tick()})",
    )
    ada.page.locator(root).scroll_into_view_if_needed()
    ada.screenshot(artifacts, "notebook7-01-tick")
    ada.wait_all_executed()
    print(
        f"notebook 7 tick: {first} -> {later}, {state()}; opened {opened:.1f}s, "
        f"connected {connected:.1f}s, done {time.monotonic() - t0:.1f}s"
    )
