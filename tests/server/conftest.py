"""Fixtures of the server tests."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_rt.server import Server
from tests.server.fakes import Clock, FakeSession


@pytest.fixture
def io() -> Server:
    return Server(connect_timeout=5)


@pytest.fixture
def client(io: Server) -> Any:
    """``client()`` opens a fake session on ``io``."""

    def make(**kwargs: Any) -> FakeSession:
        return FakeSession(io, **kwargs).open()

    return make


@pytest.fixture
def clock(io: Server) -> Clock:
    """The clock of ``io``'s log throttle (60 s between repeated lines)."""
    clock = Clock()
    io._tasks.throttle.clock = clock
    return clock
