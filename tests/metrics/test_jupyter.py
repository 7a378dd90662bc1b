"""The metrics in a real Jupyter server's ``{base_url}metrics``: what real clients did, over both
transports, behind Jupyter's auth, with no credential, id or room in them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
import socketio
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from jupyter_rt.metrics import METRICS
from tests.jupyter.support import STEP, Jupyter, sio_client
from tests.metrics.metrics_app import NAMESPACE

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(60)]

APP = {"apps": ["tests.metrics.metrics_app:setup"]}
ROOM = "room-of-secret-plans"
DYNAMIC = "<dynamic ^/doc-\\w+$>"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scrape:
    """One scrape of ``/metrics``: its text, and its samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = sample.value

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def scrape(jupyter: Jupyter, headers: Mapping[str, str] | None = None) -> Scrape:
    response = await jupyter.fetch(jupyter.url("metrics"), headers=headers)
    assert response.code == 200, response.code
    return Scrape(response.body.decode())


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
    assert counter(refused, namespace="", reason="invalid namespace") == 1
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
