"""The metrics in a real Jupyter server's ``{base_url}metrics``: what real clients did, over both
transports, behind Jupyter's auth, with no credential, id or room in them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from jupyter_rt.metrics import METRICS, ServerMetrics
from jupyter_rt.server import Server
from tests.jupyter.support import STEP, Jupyter, sio_client
from tests.metrics.metrics_app import NAMESPACE
from tests.metrics.support import APP, ROOM, scrape
from tests.server.fakes import FakeSession

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(60)]

DYNAMIC = "<dynamic ^/doc-\\w+$>"


async def refused_client(jupyter: Jupyter, namespace: str, **auth: Any) -> None:
    """A python-socketio client whose CONNECT to ``namespace`` is refused."""
    sio = socketio.AsyncClient(reconnection=False)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError, match=namespace):
            await sio.connect(
                f"{jupyter.origin}?token={jupyter.token}",
                socketio_path=jupyter.path,
                namespaces=[namespace],
                auth=auth or None,
                transports=["websocket"],
                wait_timeout=STEP,
            )
    finally:
        await sio.disconnect()


@pytest.mark.parametrize("rt_config", [APP], indirect=True)
async def test_what_clients_did_is_in_the_metrics(jupyter: Jupyter) -> None:
    before = await scrape(jupyter, jupyter.auth_header)
    assert before.value("jupyter_rt_handshakes_total", transport="websocket") is None

    async def slow_answer(*args: Any) -> None:
        await asyncio.sleep(1)  # answers after the server's 0.2 s timeout

    shouted: asyncio.Queue[str] = asyncio.Queue()
    async with (
        sio_client(jupyter, [NAMESPACE, "/doc-private"], ["websocket"]) as websocket,
        sio_client(jupyter, [NAMESPACE], ["polling"]) as polling,
    ):
        for client in (websocket, polling):
            client.on("shouted", shouted.put_nowait, namespace=NAMESPACE)
            assert await client.call("join", ROOM, namespace=NAMESPACE, timeout=STEP) is True
        websocket.on("question", slow_answer, namespace=NAMESPACE)
        assert await polling.call("shout", (ROOM, "héllo"), namespace=NAMESPACE, timeout=STEP)
        assert [await asyncio.wait_for(shouted.get(), STEP) for _ in "ab"] == ["héllo"] * 2
        answer = await websocket.call("ask", 0.2, namespace=NAMESPACE, timeout=STEP)
        assert answer == "no answer"
        await refused_client(jupyter, NAMESPACE, uninvited=True)
        await refused_client(jupyter, "/made-up-by-a-client")
        assert (await jupyter.poll()).code == 403  # no token: Jupyter refuses
        assert (await jupyter.poll(jupyter.auth_header, sid="not-a-session")).code == 400
        sids = [websocket.get_sid(NAMESPACE), polling.get_sid(NAMESPACE), websocket.eio.sid]
        sids += [polling.eio.sid, websocket.get_sid("/doc-private")]

        after = await scrape(jupyter, jupyter.auth_header)

    def counter(name: str, **labels: str) -> float | None:
        return after.value(name + "_total", **labels)

    connected = "jupyter_rt_connected_sockets"
    assert after.value(connected, namespace=NAMESPACE, transport="websocket") == 1
    assert after.value(connected, namespace=NAMESPACE, transport="polling") == 1
    assert after.value(connected, namespace=DYNAMIC, transport="websocket") == 1
    # websocket + polling + the two refused clients (each a session of its own)
    assert counter("jupyter_rt_handshakes", transport="websocket") == 3
    assert counter("jupyter_rt_handshakes", transport="polling") == 1
    assert counter("jupyter_rt_refused_requests", reason="not_authorized") == 1
    assert counter("jupyter_rt_refused_requests", reason="unknown_sid") == 1
    refused = "jupyter_rt_refused_connects"
    assert counter(refused, namespace=NAMESPACE, reason="refused") == 1
    assert counter(refused, namespace="", reason="invalid_namespace") == 1
    assert counter("jupyter_rt_events_received", namespace=NAMESPACE) == 4  # 2 joins, shout, ask
    assert counter("jupyter_rt_events_sent", namespace=NAMESPACE) == 3  # 2 shouted, 1 question
    assert counter("jupyter_rt_broadcasts", namespace=NAMESPACE) == 1
    assert counter("jupyter_rt_broadcast_deliveries", namespace=NAMESPACE) == 2
    assert counter("jupyter_rt_ack_timeouts", namespace=NAMESPACE) == 1
    assert counter("jupyter_rt_slow_consumers") == 0
    shout_frame = f'2{NAMESPACE},["shouted","héllo"]'.encode()
    sent = counter("jupyter_rt_sent_bytes")
    assert sent is not None and sent > 2 * len(shout_frame)
    received = counter("jupyter_rt_received_bytes")
    assert received is not None and received > len(f'2{NAMESPACE},1["shout","{ROOM}","héllo"]')

    histogram = "jupyter_rt_handler_duration_seconds"
    assert after.value(histogram + "_count", namespace=NAMESPACE) == 4
    assert after.value(histogram + "_bucket", namespace=NAMESPACE, le="0.1") == 3  # not ask
    assert after.value(histogram + "_bucket", namespace=NAMESPACE, le="+Inf") == 4
    total = after.value(histogram + "_sum", namespace=NAMESPACE)
    assert total is not None and total >= 0.2
    assert not any(name.startswith("jupyter_rt_redis") for name in after.names())

    for secret in (jupyter.token, ROOM, "/doc-private", "/made-up-by-a-client", *sids):
        assert secret not in after.text, secret
    for event in ("shout", "question", "join", "héllo"):
        assert f'"{event}"' not in after.text

    gone = await scrape(jupyter, jupyter.auth_header)  # the clients left
    assert gone.value(connected, namespace=NAMESPACE, transport="websocket") == 0
    assert gone.value(connected, namespace=NAMESPACE, transport="polling") == 0


async def test_every_metric_is_served_and_needs_jupyters_auth(jupyter: Jupyter) -> None:
    assert (await jupyter.fetch(jupyter.url("metrics"))).code == 403
    login = await jupyter.login()
    by_cookie = await scrape(jupyter, login.header())
    served = {family.name for family in text_string_to_metric_families(by_cookie.text)}
    assert {spec.name for spec in METRICS if not spec.redis} <= served
    for value in login.cookies.values():
        assert value not in by_cookie.text
    by_token = await scrape(jupyter, jupyter.auth_header)
    assert by_token.value("jupyter_rt_slow_consumers_total") == 0
    assert jupyter.token not in by_token.text


@pytest.mark.parametrize("server_config", [{"authenticate_prometheus": False}], indirect=True)
async def test_open_metrics_when_jupyter_serves_them_without_auth(jupyter: Jupyter) -> None:
    anyone = await scrape(jupyter)
    assert anyone.value("jupyter_rt_slow_consumers_total") == 0
    async with sio_client(jupyter, ["/tick"], ["websocket"]):
        seen = await scrape(jupyter)
    assert seen.value("jupyter_rt_connected_sockets", namespace="/tick", transport="websocket") == 1
    assert jupyter.token not in seen.text


@pytest.mark.parametrize("rt_config", [{"metrics": False}], indirect=True)
async def test_metrics_off(jupyter: Jupyter) -> None:
    scraped = await scrape(jupyter, jupyter.auth_header)
    assert "jupyter_rt_" not in scraped.text
    assert REGISTRY.get_sample_value("jupyter_rt_slow_consumers_total") is None


async def test_the_figures_leave_the_registry_when_the_extension_stops(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    assert REGISTRY.get_sample_value("jupyter_rt_slow_consumers_total") == 0
    await jp_serverapp.cleanup_extensions()  # as when the server stops
    assert REGISTRY.get_sample_value("jupyter_rt_slow_consumers_total") is None
    scraped = await scrape(jupyter, jupyter.auth_header)
    assert "jupyter_rt_" not in scraped.text


@pytest.mark.parametrize("rt_config", [{**APP, "max_buffered_bytes": 4096}], indirect=True)
async def test_a_client_that_stops_polling_is_counted_as_a_slow_consumer(jupyter: Jupyter) -> None:
    auth = jupyter.auth_header
    sid = await jupyter.open_polling(auth)
    assert (await jupyter.post(sid, f"40{NAMESPACE},", auth)).code == 200
    assert f"40{NAMESPACE}," in (await jupyter.poll(auth, sid=sid)).body.decode()
    assert (await jupyter.post(sid, f'42{NAMESPACE},0["join","{ROOM}"]', auth)).code == 200
    assert f"43{NAMESPACE},0[true]" in (await jupyter.poll(auth, sid=sid)).body.decode()
    polling = {"namespace": NAMESPACE, "transport": "polling"}
    before = await scrape(jupyter, auth)
    assert before.value("jupyter_rt_connected_sockets", **polling) == 1
    assert before.value("jupyter_rt_slow_consumers_total") == 0
    # The polling client reads no more; what the room gets waits for it, past the limit.
    async with sio_client(jupyter, [NAMESPACE], ["websocket"]) as shouter:
        for _ in range(2):
            await shouter.call("shout", (ROOM, "x" * 3000), namespace=NAMESPACE, timeout=STEP)
        after = await scrape(jupyter, auth)
        assert after.value("jupyter_rt_slow_consumers_total") == 1
        assert after.value("jupyter_rt_connected_sockets", **polling) == 0
        assert (
            after.value("jupyter_rt_connected_sockets", namespace=NAMESPACE, transport="websocket")
            == 1
        )


def test_two_servers_of_one_process_add_up_in_one_registry() -> None:
    registry = CollectorRegistry()
    first, second = Server(), Server()
    metrics = [ServerMetrics(io) for io in (first, second)]
    assert all(each.register(registry) for each in metrics)  # no duplicate names
    for io, count in ((first, 1), (second, 2)):
        for _ in range(count):
            FakeSession(io).open().connect("/")
    labels = {"namespace": "/", "transport": "websocket"}
    assert registry.get_sample_value("jupyter_rt_connected_sockets", labels) == 3
    assert registry.get_sample_value("jupyter_rt_handshakes_total", {"transport": "websocket"}) == 3
    metrics[1].close()
    assert registry.get_sample_value("jupyter_rt_connected_sockets", labels) == 1
    FakeSession(second).open().connect("/")  # no longer counted
    assert registry.get_sample_value("jupyter_rt_handshakes_total", {"transport": "websocket"}) == 1
    metrics[0].close()
    assert (
        registry.get_sample_value("jupyter_rt_handshakes_total", {"transport": "websocket"}) is None
    )
    restarted = ServerMetrics(Server())  # the names are free again
    assert restarted.register(registry)
    assert (
        registry.get_sample_value("jupyter_rt_handshakes_total", {"transport": "websocket"}) is None
    )
    assert registry.get_sample_value("jupyter_rt_received_bytes_total") == 0
    restarted.close()
