"""Fixtures for the tests against a real Jupyter server (pytest-jupyter's ``jp_serverapp``).

The server runs in the test's process, on the test's event loop, with the ``jupyter_rt``
extension enabled and pytest-jupyter's odd ``base_url`` (``/a%40b/``). Override ``rt_config``
in a test module, or parametrize it indirectly, to configure ``RealtimeApp``; override
``server_config`` for other ``ServerApp`` settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from tornado import simple_httpclient

from tests.jupyter.support import Jupyter, LogRecords


@pytest.fixture
def rt_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``c.RealtimeApp`` settings for this test's server (by default none)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def server_config(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Extra ``c.ServerApp`` settings for this test's server."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def rt_log() -> Iterator[LogRecords]:
    """Every record of the ``jupyter_rt`` logger from before the server starts to the end."""
    logger = logging.getLogger("jupyter_rt")
    records = LogRecords()
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


@pytest.fixture
def jp_server_config(
    rt_config: dict[str, Any], server_config: dict[str, Any], rt_log: LogRecords
) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_rt": True}, **server_config},
        "RealtimeApp": rt_config,
    }


@pytest.fixture
async def jupyter(
    jp_serverapp: Any, http_server: Any, jp_http_port: int, jp_base_url: str
) -> AsyncIterator[Jupyter]:
    """The running server with jupyter_rt, listening on 127.0.0.1."""
    client = simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
    try:
        yield Jupyter(
            port=jp_http_port,
            base_url=jp_base_url,
            token=jp_serverapp.identity_provider.token,
            client=client,
        )
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _restore_jupyter_rt_logger() -> Iterator[None]:
    """The extension re-parents and may set the level of the global ``jupyter_rt`` logger."""
    logger = logging.getLogger("jupyter_rt")
    saved = logger.parent, logger.level, logger.propagate
    yield
    logger.parent, logger.level, logger.propagate = saved
