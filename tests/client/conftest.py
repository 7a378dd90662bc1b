"""Fixtures for the client tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.client.support import InProcessServer, JupyterServer, start_jupyter_server
from tests.helpers import Process


@pytest.fixture
async def server() -> AsyncIterator[InProcessServer]:
    """A jupyter_rt server with fast heartbeats; add handlers to ``server.io`` in the test."""
    srv = InProcessServer(ping_interval=0.5, ping_timeout=0.5).start()
    try:
        yield srv
    finally:
        await srv.close()


@pytest.fixture
def jupyter_server(spawn: Callable[..., Process], tmp_path: Path) -> JupyterServer:
    """A real token-protected ``jupyter server`` with jupyter_rt (its root: ``tmp_path/root``)."""
    return start_jupyter_server(spawn, tmp_path)
