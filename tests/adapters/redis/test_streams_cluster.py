"""Two and three jupyter_rt servers (separate processes) on the Redis Streams adapter and one
real redis-server: the pub/sub adapter's cluster cases, and connection state recovery across
servers with the official JS client, Redis restarting in the middle.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.adapters.redis import test_cluster as cases
from tests.interop.support import NodeRun, run_scenario

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def cluster_adapter() -> str:
    return "streams"


# What the pub/sub adapter does across servers, the Streams adapter does too.
test_broadcast_to_a_room_reaches_every_server = cases.test_broadcast_to_a_room_reaches_every_server
test_namespace_wide_broadcast_and_namespaces_are_separate = (
    cases.test_namespace_wide_broadcast_and_namespaces_are_separate
)
test_socket_broadcast_excludes_the_sender_across_servers = (
    cases.test_socket_broadcast_excludes_the_sender_across_servers
)
test_except_holds_across_servers = cases.test_except_holds_across_servers
test_binary_and_unicode_arguments_cross_servers = (
    cases.test_binary_and_unicode_arguments_cross_servers
)
test_fetch_sockets_across_three_servers = cases.test_fetch_sockets_across_three_servers
test_remote_join_leave_and_disconnect = cases.test_remote_join_leave_and_disconnect
test_remote_socket_handles = cases.test_remote_socket_handles
test_broadcast_with_acks_collects_from_every_server = (
    cases.test_broadcast_with_acks_collects_from_every_server
)
test_broadcast_with_acks_times_out_on_a_slow_remote_client = (
    cases.test_broadcast_with_acks_times_out_on_a_slow_remote_client
)
test_server_side_emit_and_acks = cases.test_server_side_emit_and_acks
test_server_side_call_times_out_when_a_server_does_not_answer = (
    cases.test_server_side_call_times_out_when_a_server_does_not_answer
)
test_all_rooms = cases.test_all_rooms
test_fetch_sockets_times_out_when_a_server_hangs = (
    cases.test_fetch_sockets_times_out_when_a_server_hangs
)
test_fetched_handshakes_leave_credentials_out = cases.test_fetched_handshakes_leave_credentials_out


def without_offset(event: list[object]) -> list[object]:
    """An event as the app sent it: the client's listeners get the offset as a last argument."""
    assert isinstance(event[-1], str), event
    return event[:-1]


EXPECTED = [
    ["seen", "before"],
    ["missed", 1],
    ["sync", 1],
    ["missed", 2],
    ["missed", 3],
    ["sync", 2],
    ["seen", "after"],
]
"""What the client gets over the whole scenario: once each, in the order sent."""


def check_recovered(r: dict, to: str) -> None:
    assert r["reason"] in ("transport close", "transport error")  # polling: an error
    assert r["before"]["recovered"] is False
    assert r["after"] == {"id": r["before"]["id"], "recovered": True}
    assert r["whoami"]["server"] == to
    assert r["whoami"]["id"] == r["before"]["id"]
    assert r["whoami"]["recovered"] is True
    assert r["whoami"]["rooms"] == sorted([r["before"]["id"], "news"])
    assert r["whoami"]["data"] == {"name": "ada"}
    assert [without_offset(e) for e in r["received"]] == EXPECTED
    offsets = [e[-1] for e in r["received"]]
    assert len(set(offsets)) == len(offsets)


@pytest.mark.node
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
async def test_a_client_dropped_by_one_server_recovers_on_the_other(start_servers, transport):
    # Short pings: a polling client cut between two polls is noticed by A at its ping timeout.
    a, b = await start_servers("A", "B", recovery=True, ping=1)
    r = run_scenario("recovery-across-servers", a.url, other=b.url, transport=transport, timeout=40)
    check_recovered(r, "B")
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")


BACK = r"WARNING jupyter_rt\.redis: Redis at .* is back after"


@pytest.mark.node
@pytest.mark.parametrize("persistent", [True, False], ids=["aof", "no-persistence"])
async def test_redis_restarting_while_the_client_is_away_loses_nothing_it_kept(
    request, start_servers, tmp_path, persistent
):
    """Redis is killed (SIGKILL) and started again while the client is away. With an
    append-only file fsynced on every write, the session and the missed broadcasts were on
    disk before Redis acknowledged them, and the client comes back to the other server as
    before. Without persistence Redis comes back empty: the client gets a fresh session (and
    misses what was sent while it was away), and everything else still works."""
    redis_server = request.getfixturevalue("persistent_redis" if persistent else "own_redis")
    a, b = await start_servers("A", "B", recovery=True, ping=1, redis_url=redis_server.url)
    go = tmp_path / "go"
    run = NodeRun(
        "recovery-across-servers",
        a.url,
        other=b.url,
        transport="websocket",
        pauseFile=str(go),
        missed=3 if persistent else 0,
    )
    try:
        assert "disconnected" in await asyncio.to_thread(run.next_event, 20)
        assert await asyncio.to_thread(run.next_event, 20) == {"away": True}
        redis_server.crash()
        redis_server.start()
        for server in (a, b):  # both noticed, and read the stream again
            await server.process.await_output(BACK, 20)
        go.touch()
        r = await asyncio.to_thread(run.finish, 30)
    finally:
        run.kill()
    if persistent:
        check_recovered(r, "B")
    else:
        assert r["after"]["recovered"] is False and r["after"]["id"] != r["before"]["id"]
        assert r["whoami"]["rooms"] == [r["after"]["id"]] and r["whoami"]["data"] == {}
        assert [without_offset(e) for e in r["received"]] == [["seen", "before"], ["seen", "after"]]
    for server in (a, b):
        assert "Traceback" not in server.output()
        assert len(re.findall(BACK, server.output())) == 1
