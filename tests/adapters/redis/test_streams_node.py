"""A Node ``socket.io`` 4.8 server on ``@socket.io/redis-streams-adapter`` 0.3 and a jupyter_rt
server on the Streams adapter share one Redis: rooms, broadcasts, requests, and sessions (a
client dropped by one comes back to the other, recovered). Each case runs both ways."""

from __future__ import annotations

import pytest

from tests.adapters.redis import test_node_interop as cases
from tests.adapters.redis.test_streams_cluster import check_recovered
from tests.interop.support import run_scenario

pytestmark = [pytest.mark.redis, pytest.mark.node, pytest.mark.interop, pytest.mark.slow]

kinds = cases.kinds
pair = cases.pair


@pytest.fixture
def cluster_adapter() -> str:
    return "streams"


test_room_broadcast_crosses = cases.test_room_broadcast_crosses
test_binary_crosses = cases.test_binary_crosses
test_namespaces_and_several_rooms = cases.test_namespaces_and_several_rooms
test_sender_exclusion_and_except = cases.test_sender_exclusion_and_except
test_fetch_sockets_crosses = cases.test_fetch_sockets_crosses
test_remote_join_leave_disconnect_cross = cases.test_remote_join_leave_disconnect_cross
test_remote_socket_emit_and_join_cross = cases.test_remote_socket_emit_and_join_cross
test_broadcast_acks_cross = cases.test_broadcast_acks_cross
test_broadcast_ack_timeout_crosses = cases.test_broadcast_ack_timeout_crosses
test_server_side_emit_crosses = cases.test_server_side_emit_crosses
test_three_servers_two_kinds = cases.test_three_servers_two_kinds


async def test_all_rooms_of_the_cluster_from_jupyter_rt(start_servers, peers):
    """jupyter_rt gathers every server's rooms (from their sockets); Node's streams adapter
    answers but its own ``allRooms()`` is local only, so only this direction is tested."""
    origin, remote = await start_servers("origin", "remote", kinds=("python", "node"))
    po, pr = await peers(origin), await peers(remote)
    await pr.ask("join", "theirs")
    await po.ask("join", "ours")
    assert {"theirs", "ours", pr.sid(), po.sid()} <= set(await po.ask("all-rooms"))


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_a_client_recovers_on_a_server_of_the_other_kind(start_servers, kinds, transport):
    a, b = await start_servers("A", "B", kinds=kinds, recovery=True, ping=1)
    r = run_scenario("recovery-across-servers", a.url, other=b.url, transport=transport, timeout=40)
    check_recovered(r, "B")
