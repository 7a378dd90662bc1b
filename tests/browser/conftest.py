"""Fixtures for the real-browser tests: one ``jupyter lab`` and one Chromium per module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import Lab, LabPage, check_lab_environment, dump_console, start_lab
from tests.helpers import CHROMIUM_ARGS, Process, artifact_dir, require_binary


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    # Remember each phase's report on the item, so fixtures can tell a failed test at teardown.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def lab_artifacts(request: pytest.FixtureRequest) -> Path:
    """``test-artifacts/<module>/``: the server log and what every test of the module saved."""
    return artifact_dir(request.module.__name__)


@pytest.fixture(scope="module")
def lab_traits() -> dict[str, object]:
    """More settings for the module's ``lab`` (none; a module overrides it to change them)."""
    return {}


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, lab_artifacts: Path, lab_traits: dict[str, object]
) -> Iterator[Lab]:
    """A token-protected ``jupyter lab`` on a copy of ``notebooks/``, stopped by PID."""
    require_binary("chromium")
    check_lab_environment()
    home = tmp_path_factory.mktemp("lab")
    started: list[Process] = []

    def spawn(argv: Any, **kwargs: Any) -> Process:
        kwargs.setdefault("log_path", lab_artifacts / "jupyter-lab.log")
        process = Process(argv, **kwargs)
        started.append(process)
        return process.start()

    try:
        yield start_lab(spawn, home, traits=lab_traits)
    finally:
        for process in started:
            process.stop()


@pytest.fixture
def browser(lab: Lab) -> Iterator[Any]:
    """Headless Chromium (the system's, never a downloaded one) driven by Playwright.

    One per test: Playwright's sync API keeps an event loop running while it is open, which
    would get in the way of other fixtures' loops between tests.
    """
    from playwright.sync_api import sync_playwright

    chromium = require_binary("chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_user(
    request: pytest.FixtureRequest, browser: Any, lab: Lab, artifacts: Path
) -> Iterator[Callable[[str], LabPage]]:
    """``new_user("ada")``: a fresh browser context (its own login, so its own Jupyter user).

    When the test fails, every page is screenshot as ``FAILED-<name>.png`` and its console
    errors are written next to it, in the test's artifacts folder.
    """
    pages: dict[str, LabPage] = {}
    contexts: list[Any] = []

    def make(name: str) -> LabPage:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        pages[name] = LabPage.login(context, lab, name)
        return pages[name]

    yield make
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        for name, lab_page in pages.items():
            try:
                lab_page.screenshot(artifacts, f"FAILED-{name}")
            except Exception as error:  # a dead page must not hide the test's own failure
                (artifacts / f"FAILED-{name}.txt").write_text(repr(error), encoding="utf-8")
    dump_console(pages, artifacts)
    for context in contexts:
        context.close()
