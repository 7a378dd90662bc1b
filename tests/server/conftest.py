"""Fixtures of the server tests."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_rt.clock import ManualClock
from jupyter_rt.server import Server
from tests.server.fakes import FakeSession


@pytest.fixture
def clock() -> ManualClock:
    """The clock of ``io``: its ack timeouts and its log throttle (60 s between repeated
    lines) move only with ``clock.advance(seconds)``."""
    return ManualClock(1000.0)


@pytest.fixture
def io(clock: ManualClock) -> Server:
    return Server(connect_timeout=5, clock=clock)


@pytest.fixture
def client(io: Server) -> Any:
    """``client()`` opens a fake session on ``io``."""

    def make(**kwargs: Any) -> FakeSession:
        return FakeSession(io, **kwargs).open()

    return make
