"""Fixtures for the interop tests (helpers live in ``support.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.interop.support import ServerProcess


@pytest.fixture(scope="module")
def interop_server() -> Iterator[ServerProcess]:
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
