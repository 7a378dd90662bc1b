"""``jupyter_rt.apps.tick`` under connection state recovery: ticks are volatile, so none is kept
for replay, and a tick client that lost its connection starts over as a new socket."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_rt.apps import tick
from jupyter_rt.server import SessionAwareAdapter
from jupyter_rt.testing import InProcessServer, wait_until


@pytest.fixture
def rt_server_options() -> dict[str, Any]:
    return {"setup": tick.setup, "connection_state_recovery": True}


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
async def test_ticks_are_not_kept_for_replay(
    rt_server: InProcessServer, transports: list[str]
) -> None:
    ticks: list[int] = []
    client = rt_server.client(reconnection_delay=0.1, randomization_factor=0)
    client.on("tickEvent", lambda data: ticks.append(data["tick"]), namespace="/tick")
    await rt_server.connect("/tick", transports=transports, client=client)
    await wait_until(lambda: len(ticks) >= 2, 3, message=lambda: f"two ticks, got {ticks}")
    assert ticks[:2] == [0, 1]  # the first one too: it waited for the client to take it
    adapter = rt_server.io.of("/tick").adapter
    assert isinstance(adapter, SessionAwareAdapter)
    assert adapter.store.stored_packets == 0

    sid = client.get_sid("/tick")
    ticks.clear()
    client.drop()
    await wait_until(lambda: ticks, 3, message="a tick after the drop")
    assert ticks[0] == 0 and not client.recovered and client.get_sid("/tick") != sid
    assert adapter.store.stored_packets == 0
