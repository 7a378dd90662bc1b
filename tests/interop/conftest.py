"""Fixtures for the interop tests (helpers live in ``support.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.interop.support import ServerProcess


@pytest.fixture(scope="module")
def interop_server() -> Iterator[ServerProcess]:
    """One server for a test module; tests keep apart by their ``tag``."""
    server = ServerProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_server() -> Iterator[ServerProcess]:
    server = ServerProcess()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture(autouse=True)
def _server_output(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print what the test's servers logged meanwhile (pytest shows it when the test fails)."""
    servers = [
        request.getfixturevalue(name)
        for name in request.fixturenames
        if name in ("interop_server", "fresh_server", "fast_ping_server", "prefixed_server")
    ]
    marks = [len(server.output) for server in servers]
    yield
    for server, mark in zip(servers, marks, strict=True):
        new = server.output[mark:].splitlines(keepends=True)
        if new:
            print(f"--- server on port {server.port} logged:\n{''.join(new[-60:])}")
