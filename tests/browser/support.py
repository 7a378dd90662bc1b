"""A ``jupyter lab`` subprocess and a JupyterLab page driven by Playwright, for browser tests.

:func:`start_lab` runs a token-protected ``jupyter lab`` on 127.0.0.1 with its own root (a copy
of ``notebooks/``), workspaces, settings, config and runtime folders, so nothing from the
machine's own JupyterLab (saved tabs, settings) leaks in. The jupyter_rt labextension is the one
built in this checkout (``jupyter_rt/labextension``), put first on ``JUPYTER_PATH``, so the test
exercises this tree's frontend even when the environment holds an older installed copy.
With ``notebook`` 7 installed, the same server also serves Notebook 7's pages (``/notebooks/...``).

:class:`LabPage` drives one JupyterLab (or Notebook 7) tab through ``window.jupyterapp`` (the
server runs with ``expose_app_in_browser`` for both): open a notebook, wait for its kernel, run all
cells, add a cell, and fail with the notebook's error output when a cell raises.
"""

from __future__ import annotations

import base64
import contextlib
import html
import importlib.util
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_rt.testing import JupyterServer
from tests.helpers import REPO, Process, jupyter_server, unavailable

LAB_BUILD = REPO / "jupyter_rt" / "labextension"
NOTEBOOKS = REPO / "notebooks"

#: User settings for a quiet, deterministic JupyterLab: no news/update toasts, no autosave
#: (two browser contexts on one notebook would otherwise race to save it), and every cell kept
#: in the page (no windowing), so widgets scrolled out of view can still be found and read.
LAB_SETTINGS: dict[str, dict[str, object]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


#: A running ``jupyter lab``: its process, address, token and log.
Lab = JupyterServer


def check_lab_environment() -> None:
    """Skip (fail under JUPYTER_RT_REQUIRE_ALL) when JupyterLab or the widgets are missing."""
    for module, why in (
        ("jupyterlab", "jupyterlab is not installed"),
        ("jupyterlab_widgets", "jupyterlab_widgets is not importable (no @jupyter-widgets/base)"),
        ("playwright", "playwright is not installed"),
    ):
        if importlib.util.find_spec(module) is None:
            unavailable(why)
    if not (LAB_BUILD / "package.json").is_file():
        unavailable("the labextension is not built (run `bash dev.sh setup`)")


def start_lab(
    spawn: Callable[..., Process],
    home: Path,
    *,
    timeout: float = 90.0,
    traits: Mapping[str, object] | None = None,
) -> Lab:
    """Start ``jupyter lab`` in ``home`` on a free port; return once it serves requests.
    ``traits`` are more settings (``{"RealtimeApp.connection_state_recovery": True}``)."""
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    workspaces = home / "workspaces"
    settings = home / "settings"
    workspaces.mkdir()
    for name, values in LAB_SETTINGS.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    # This checkout's labextension first: JupyterLab takes the first copy it finds by name.
    data = home / "data"
    (data / "labextensions").mkdir(parents=True)
    (data / "labextensions" / "jupyter-rt").symlink_to(LAB_BUILD, target_is_directory=True)

    server = jupyter_server(
        spawn,
        home,
        command="lab",
        root_dir=root,
        traits={
            "LabApp.workspaces_dir": workspaces,
            "LabApp.user_settings_dir": settings,
            "LabApp.expose_app_in_browser": True,
            "JupyterNotebookApp.expose_app_in_browser": True,
            "LabApp.news_url": "",
            **(traits or {}),
        },
        env={
            "JUPYTER_PATH": os.pathsep.join(
                filter(None, [str(data), os.environ.get("JUPYTER_PATH")])
            ),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
        },
    )
    return server.start(timeout)


# ----------------------------------------------------------------------------- the page


class NotebookFailed(AssertionError):
    """A cell of the notebook raised: the message holds its traceback."""


@dataclass
class LabPage:
    """One JupyterLab tab (a Playwright ``Page``) logged in to ``lab``."""

    page: Any  # playwright.sync_api.Page
    lab: Lab
    name: str
    console: list[str] = field(default_factory=list)
    workspace: str = field(default_factory=lambda: f"test-{secrets.token_hex(4)}")

    @classmethod
    def login(cls, context: Any, lab: Lab, name: str) -> LabPage:
        """A new tab in ``context``, logged in by ``?token=`` so later loads use the cookie."""
        page = context.new_page()
        self = cls(page, lab, name)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console.append(f"pageerror: {error}"))
        response = context.request.get(f"{lab.url}api/status?token={lab.token}")
        assert response.ok, f"login with the token failed: {response.status}"
        names = {cookie["name"] for cookie in context.cookies()}
        assert any(n.startswith("username-") for n in names), f"no login cookie: {names}"
        return self

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.console.append(f"{message.type}: {message.text}")

    # -- notebooks ----------------------------------------------------------------------------

    def goto(self, path: str, *, timeout: float = 60.0, ui: str = "lab") -> None:
        """Load ``path`` in JupyterLab, in this page's own workspace, with cookie auth.

        Each page has a workspace of its own: JupyterLab saves the open tabs per workspace on
        the server and reopens them, so pages sharing one would reopen each other's documents.
        ``ui="notebook"`` loads notebook ``path`` in Notebook 7's page instead (one document per
        page, no workspaces).
        """
        if ui == "notebook":
            url = f"{self.lab.url}notebooks/{path}"
        elif ui == "lab":
            url = f"{self.lab.url}lab/workspaces/{self.workspace}/tree/{path}"
        else:
            raise ValueError(f"unknown ui {ui!r}: 'lab' or 'notebook'")
        self.page.goto(url, timeout=timeout * 1000)
        assert "/login" not in self.page.url, (
            f"{self.name}: sent to the login page: {self.page.url}"
        )

    def open_notebook(self, path: str, *, timeout: float = 60.0, ui: str = "lab") -> None:
        """Open notebook ``path`` and wait until it is the current document, with a session."""
        self.goto(path, timeout=timeout, ui=ui)
        self.page.wait_for_function(
            """(path) => {
                const app = window.jupyterapp;
                const widget = app && app.shell && app.shell.currentWidget;
                return !!(widget && widget.context && widget.context.path === path
                          && widget.sessionContext && widget.content);
            }""",
            arg=path,
            timeout=timeout * 1000,
        )
        self.page.evaluate(
            """async () => {
                const widget = window.jupyterapp.shell.currentWidget;
                await widget.context.ready;
                await widget.sessionContext.ready;
            }"""
        )

    def kernel_status(self) -> str:
        return str(
            self.page.evaluate(
                """() => {
                    const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
                    return ctx.session && ctx.session.kernel ? ctx.session.kernel.status : 'none';
                }"""
            )
        )

    def wait_kernel_idle(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while (status := self.kernel_status()) != "idle":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: kernel is {status!r} after {timeout}s")
            time.sleep(0.2)

    def run_all(self) -> None:
        """Run every cell, as Run ▸ Run All Cells does."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    def cell_index(self, text: str) -> int:
        """The index of the first cell whose source contains ``text``."""
        index = int(
            self.page.evaluate(
                """(text) => window.jupyterapp.shell.currentWidget.content.widgets.findIndex(
                    (cell) => cell.model.sharedModel.getSource().includes(text))""",
                text,
            )
        )
        assert index >= 0, f"{self.name}: no cell contains {text!r}"
        return index

    def run_cells_above(self, index: int) -> None:
        """Run the cells before cell ``index``, as Run ▸ Run All Above Selected Cell does."""
        self.page.evaluate(
            """async (index) => {
                const app = window.jupyterapp;
                app.shell.currentWidget.content.activeCellIndex = index;
                await app.commands.execute('notebook:run-all-above');
            }""",
            index,
        )

    def run_cell(self, index: int) -> None:
        """Run cell ``index`` (as selecting it and pressing Ctrl+Enter does)."""
        self.page.evaluate(
            """async (index) => {
                const app = window.jupyterapp;
                app.shell.currentWidget.content.activeCellIndex = index;
                await app.commands.execute('notebook:run-cell');
            }""",
            index,
        )

    def restart_kernel(self) -> None:
        """Restart the notebook's kernel (Kernel ▸ Restart Kernel, without the dialog)."""
        self.page.evaluate(
            "async () => { await window.jupyterapp.shell.currentWidget.sessionContext"
            ".restartKernel(); }"
        )

    def run_in_new_cell(self, code: str) -> None:
        """Append a code cell with ``code`` at the end of the notebook and run it."""
        self.page.evaluate(
            """async (code) => {
                const app = window.jupyterapp;
                const notebook = app.shell.currentWidget.content;
                notebook.activeCellIndex = notebook.widgets.length - 1;
                await app.commands.execute('notebook:insert-cell-below');
                const cell = notebook.activeCell;
                cell.model.sharedModel.setSource(code);
                await app.commands.execute('notebook:run-cell');
            }""",
            code,
        )

    def cells_state(self, stop: int | None = None) -> dict[str, Any]:
        """How far execution went: code cells (before cell ``stop`` if given), executed ones,
        running ones, and errors."""
        state: dict[str, Any] = self.page.evaluate(
            """(stop) => {
                const notebook = window.jupyterapp.shell.currentWidget.content;
                // JupyterLab does not execute empty cells.
                const cells = notebook.widgets.slice(0, stop ?? undefined).filter(
                    (c) => c.model.type === 'code' && c.model.sharedModel.getSource().trim()
                );
                const errors = [];
                let executed = 0, running = 0;
                cells.forEach((cell, i) => {
                    const prompt = cell.node.querySelector('.jp-InputPrompt');
                    const text = prompt ? prompt.textContent : '';
                    if (text.includes('*')) { running += 1; }
                    else if (cell.model.executionCount !== null) { executed += 1; }
                    for (const output of cell.model.outputs.toJSON()) {
                        if (output.output_type === 'error') {
                            errors.push(`cell ${i}: ${output.ename}: ${output.evalue}\\n`
                                        + (output.traceback || []).join('\\n'));
                        }
                    }
                });
                return {cells: cells.length, executed, running, errors};
            }""",
            stop,
        )
        return state

    def wait_all_executed(self, timeout: float = 90.0, stop: int | None = None) -> dict[str, Any]:
        """Wait until every code cell (before cell ``stop`` if given) ran and the kernel is idle;
        fail on an error output."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.cells_state(stop)
            if state["errors"]:
                raise NotebookFailed(
                    f"{self.name}: a cell raised:\n" + strip_ansi("\n".join(state["errors"]))
                )
            if (
                state["executed"] == state["cells"]
                and state["running"] == 0
                and self.kernel_status() == "idle"
            ):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name}: cells not all executed after {timeout}s: {state}, "
                    f"kernel {self.kernel_status()!r}"
                )
            time.sleep(0.25)

    # -- evidence -----------------------------------------------------------------------------

    def screenshot(self, folder: Path, label: str) -> Path:
        path = folder / f"{label}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def compose(browser: Any, panels: list[tuple[str, Path]], out: Path, columns: int = 2) -> Path:
    """Lay screenshots out on a grid, each under its caption, and save the result as ``out``."""
    figures = "".join(
        f"<figure><figcaption>{html.escape(caption)}</figcaption>"
        f'<img src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        "</figure>"
        for caption, path in panels
    )
    page = browser.new_page(viewport={"width": 800, "height": 400}, device_scale_factor=1)
    try:
        page.set_content(
            "<style>body{margin:0;background:#fff;font:15px system-ui,sans-serif}"
            f"main{{display:inline-grid;grid-template-columns:repeat({columns},auto);"
            "gap:12px;padding:12px}figure{margin:0}figcaption{padding:0 0 6px;color:#333}"
            "img{display:block;border:1px solid #ccc}</style>"
            f"<main>{figures}</main>"
        )
        page.locator("main").screenshot(path=str(out))
    finally:
        page.close()
    return out


def dump_console(pages: Mapping[str, LabPage], folder: Path) -> None:
    """Write each page's console errors and warnings to ``folder/console-<name>.txt``."""
    for name, lab_page in pages.items():
        with contextlib.suppress(OSError):
            (folder / f"console-{name}.txt").write_text(
                "\n".join(lab_page.console), encoding="utf-8"
            )
