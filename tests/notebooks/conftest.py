"""Fixtures for the notebook tests: one Jupyter server rooted at a copy of ``notebooks/``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_rt.testing import JupyterServer
from tests.helpers import REPO, Process, start_jupyter_server

NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="session")
def notebook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One Jupyter server for every notebook, rooted at a copy of ``notebooks/``."""
    home = tmp_path_factory.mktemp("notebook-server")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root)
    started: list[Process] = []

    def spawn(argv: Any, **kwargs: Any) -> Process:
        kwargs.setdefault("log_path", home / "jupyter-server.log")
        process = Process(argv, **kwargs)
        started.append(process)
        return process.start()

    try:
        yield start_jupyter_server(spawn, home, root_dir=root)
    finally:
        for process in started:
            process.stop()
