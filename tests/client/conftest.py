"""Fixtures for the client tests."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_rt.testing import InProcessServer


@pytest.fixture
def rt_server_options() -> dict[str, Any]:
    """Fast heartbeats, so the tests of dropped connections are quick."""
    return {"ping_interval": 0.5, "ping_timeout": 0.5}


@pytest.fixture
def server(rt_server: InProcessServer) -> InProcessServer:
    """The plugin's in-process server; add handlers to ``server.io`` in the test."""
    return rt_server
