"""Connection state recovery with the official npm ``socket.io-client`` 4.8 (which supports it)
against a real jupyter_rt server started with ``connection_state_recovery=True``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.support import ServerProcess, connects, disconnects, run_scenario

pytestmark = [pytest.mark.interop, pytest.mark.node, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def recovery_server() -> Iterator[ServerProcess]:
    server = ServerProcess(None, "--connection-state-recovery", 1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def without_offset(event: list[object]) -> list[object]:
    """An event as the app meant it: the client's listeners get the offset as a last argument."""
    assert isinstance(event[-1], str), event
    return event[:-1]


@pytest.mark.parametrize("drop", ["client", "server"])
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
def test_a_dropped_client_comes_back_as_the_same_socket_with_what_it_missed(
    recovery_server: ServerProcess, tag: str, transport: str, drop: str
) -> None:
    r = run_scenario("recovery", recovery_server.url, tag=tag, transport=transport, drop=drop)
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    assert r["before"]["recovered"] is False
    assert r["after"] == {"id": r["before"]["id"], "recovered": True}
    # Every event in the order sent, each once: the one before the drop, the three sent while
    # the client was away (to everyone, to the socket itself, to its room), the one after.
    assert [without_offset(e) for e in r["received"]] == [
        ["seen", "before the drop"],
        ["missed", 1],
        ["missed", 2],
        ["missed", 3],
        ["seen", "after"],
    ]
    offsets = [e[-1] for e in r["received"]]
    assert len(set(offsets)) == len(offsets)
    # Its rooms and socket.data came back with it.
    assert r["whoami"]["id"] == r["before"]["id"]
    assert r["whoami"]["rooms"] == sorted([r["before"]["id"], "news"])
    assert r["ticks"] == ["kept in socket.data"]
    log = recovery_server.wait_log(tag, lambda e: len(disconnects(e)) >= 2)
    assert [(c["id"], c["recovered"]) for c in connects(log)] == [
        (r["before"]["id"], False),
        (r["before"]["id"], True),
    ]
    lost = "transport close" if drop == "client" else "forced close"
    assert disconnects(log) == [lost, "client namespace disconnect"]
