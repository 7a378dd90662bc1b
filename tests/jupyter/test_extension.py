"""``jupyter_rt.extension``: the extension in a real Jupyter server, its traitlets and apps."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
from typing import Any

import pytest
import socketio
from tornado import httpclient
from traitlets import TraitError

from jupyter_rt.apps import chat, hub, tick
from jupyter_rt.extension import BUILT_IN_APPS, RealtimeApp
from tests.jupyter.support import (
    STEP,
    Inbox,
    Jupyter,
    LogRecords,
    handshake,
    jupyter_command,
    sio_client,
)

pytestmark = [pytest.mark.jupyter, pytest.mark.timeout(60)]

CUSTOM_APP = "tests.jupyter.custom_app:setup"


def test_extension_is_listed_enabled_and_valid() -> None:
    done = subprocess.run(
        jupyter_command("server", "extension", "list"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    assert done.returncode == 0, output
    assert re.search(r"^\s*jupyter_rt enabled\s*$", output, re.M), output
    assert re.search(r"^\s*jupyter_rt \S+ OK\s*$", output, re.M), output


def test_built_in_apps_are_the_default() -> None:
    assert RealtimeApp().apps == BUILT_IN_APPS
    assert [f"{m.__name__}:setup" for m in (tick, chat, hub)] == BUILT_IN_APPS


# -- traitlets reach the handshake ----------------------------------------------------------------

TIMES = {"ping_interval": 0.3, "ping_timeout": 1.25, "max_payload": 12_345}


@pytest.mark.parametrize("rt_config", [TIMES], indirect=True)
async def test_traitlets_reach_the_handshake(jupyter: Jupyter) -> None:
    expected = {"pingInterval": 300, "pingTimeout": 1250, "maxPayload": 12_345}
    polling = handshake((await jupyter.poll(jupyter.auth_header)).body)
    assert {k: polling[k] for k in expected} == expected
    assert polling["upgrades"] == ["websocket"]
    connection = await jupyter.websocket(jupyter.auth_header)
    try:
        opened = handshake(str(await connection.read_message()))
        assert {k: opened[k] for k in expected} == expected
        assert opened["upgrades"] == []
        # The server pings every 0.3 s.
        assert await connection.read_message() == "2"
    finally:
        connection.close()


@pytest.mark.parametrize(
    "jp_argv",
    [["--RealtimeApp.ping_interval=2.5", "--RealtimeApp.ping_timeout=0.75"]],
)
async def test_traitlets_from_the_command_line(jupyter: Jupyter) -> None:
    opened = handshake((await jupyter.poll(jupyter.auth_header)).body)
    assert (opened["pingInterval"], opened["pingTimeout"]) == (2500, 750)


@pytest.mark.parametrize(
    "jp_argv", [['--RealtimeApp.apps=["jupyter_rt.apps.tick:setup", "jupyter_rt.apps.hub:setup"]']]
)
async def test_a_json_list_on_the_command_line_starts_each_app(
    jupyter: Jupyter, rt_log: LogRecords
) -> None:
    started = [r.getMessage() for r in rt_log.records if "Realtime app" in r.getMessage()]
    assert started == [
        "Realtime app jupyter_rt.apps.tick:setup started",
        "Realtime app jupyter_rt.apps.hub:setup started",
    ]
    assert "/chat" in await refused_namespace(jupyter, "/chat")


def members_request(padding: int) -> str:
    """A valid /hub event of about ``padding`` bytes (acked with a validation error)."""
    return '42/hub,1["members","' + "y" * padding + '"]'


@pytest.mark.parametrize("rt_config", [{"max_payload": 1000}], indirect=True)
async def test_max_payload_limits_a_polling_post(jupyter: Jupyter) -> None:
    sid = await jupyter.open_polling(jupyter.auth_header)
    assert (await jupyter.post(sid, "40/hub,", jupyter.auth_header)).code == 200
    fits = await jupyter.post(sid, members_request(900), jupyter.auth_header)
    assert (fits.code, fits.body) == (200, b"ok")
    too_big = await jupyter.post(sid, members_request(1000), jupyter.auth_header)
    assert too_big.code == 413
    # The session was closed with it.
    after = await jupyter.post(sid, "3", jupyter.auth_header)
    assert after.code == 400


@pytest.mark.parametrize("rt_config", [{"max_payload": 1000}], indirect=True)
async def test_max_payload_limits_a_websocket_message(jupyter: Jupyter) -> None:
    connection = await jupyter.websocket(jupyter.auth_header)
    try:
        handshake(str(await connection.read_message()))
        await connection.write_message("40/hub,")
        assert str(await connection.read_message()).startswith("40/hub,")
        await connection.write_message(members_request(900))
        assert str(await connection.read_message()).startswith('43/hub,1[{"ok":false')
        await connection.write_message(members_request(1000))
        assert await connection.read_message() is None  # closed
    finally:
        connection.close()


@pytest.mark.parametrize("rt_config", [{"transports": ["websocket"]}], indirect=True)
async def test_websocket_only(jupyter: Jupyter) -> None:
    assert (await jupyter.poll(jupyter.auth_header)).code == 400
    connection = await jupyter.websocket(jupyter.auth_header)
    try:
        assert handshake(str(await connection.read_message()))["upgrades"] == []
    finally:
        connection.close()
    async with sio_client(jupyter, ["/tick"], ["websocket"]) as sio:
        assert sio.transport() == "websocket"


@pytest.mark.parametrize("rt_config", [{"transports": ["polling"]}], indirect=True)
async def test_polling_only(jupyter: Jupyter) -> None:
    assert handshake((await jupyter.poll(jupyter.auth_header)).body)["upgrades"] == []
    with pytest.raises(httpclient.HTTPClientError) as refused:
        await jupyter.websocket(jupyter.auth_header)
    assert refused.value.code == 400


@pytest.mark.parametrize("rt_config", [{"connect_timeout": 0.3}], indirect=True)
async def test_connect_timeout_closes_a_silent_session(jupyter: Jupyter) -> None:
    sid = await jupyter.open_polling(jupyter.auth_header)
    await asyncio.sleep(0.6)
    response = await jupyter.poll(jupyter.auth_header, sid=sid)
    assert (response.code, response.body) in ((400, b"Session ID unknown"), (200, b"1"))


# -- apps -----------------------------------------------------------------------------------------

APPS = [
    "no_such_module_for_jupyter_rt:setup",
    CUSTOM_APP,
    "tests.jupyter.custom_app:broken",
    "tests.jupyter.custom_app:no_such_function",
    "tests.jupyter.custom_app",
    "jupyter_rt.apps.tick:setup",
]


async def refused_namespace(jupyter: Jupyter, namespace: str) -> str:
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError) as refused:
        await sio.connect(
            f"{jupyter.origin}?token={jupyter.token}",
            namespaces=[namespace],
            socketio_path=jupyter.path,
            wait_timeout=STEP,
        )
    await sio.disconnect()
    return str(refused.value)


@pytest.mark.parametrize("rt_config", [{"apps": APPS}], indirect=True)
async def test_apps_replace_the_defaults_and_bad_ones_are_logged(
    jupyter: Jupyter, rt_log: LogRecords
) -> None:
    at_start = [r for r in rt_log.records if "Realtime app" in r.getMessage()]
    failed = {r.getMessage() for r in at_start if r.levelno == logging.ERROR}
    assert failed == {
        f"Realtime app {spec!r} failed to start; serving without it"
        for spec in (APPS[0], APPS[2], APPS[3], APPS[4])
    }
    errors = {r.getMessage(): r.exc_info for r in at_start if r.levelno == logging.ERROR}
    reasons = [str(info[1]) if info else "" for info in errors.values()]
    assert any("no_such_module_for_jupyter_rt" in reason for reason in reasons), reasons
    assert any("this app cannot start" in reason for reason in reasons), reasons
    assert any("module:function" in reason for reason in reasons), reasons
    started = {r.getMessage() for r in at_start if r.levelno == logging.INFO}
    assert started == {
        f"Realtime app {CUSTOM_APP} started",
        "Realtime app jupyter_rt.apps.tick:setup started",
    }

    # The server kept running, with the apps that did start.
    ticks = Inbox()
    listen = ticks.listener("/tick", "tickEvent")
    async with sio_client(jupyter, ["/custom", "/tick"], setup=listen) as sio:
        assert await sio.call("echo", [1, "two"], namespace="/custom", timeout=STEP) == [[1, "two"]]
        assert await ticks.next("tickEvent") == {"tick": 0}
    # Setting apps replaced the default list.
    for namespace in ("/chat", "/hub"):
        assert namespace in await refused_namespace(jupyter, namespace)


@pytest.mark.parametrize("rt_config", [{"apps": []}], indirect=True)
async def test_no_apps(jupyter: Jupyter) -> None:
    assert (await jupyter.poll(jupyter.auth_header)).code == 200
    assert "/tick" in await refused_namespace(jupyter, "/tick")


@pytest.mark.parametrize("rt_config", [{"log_level": "WARN"}], indirect=True)
async def test_log_level_applies_to_jupyter_rt(jupyter: Jupyter) -> None:
    assert logging.getLogger("jupyter_rt").getEffectiveLevel() == logging.WARNING


HOSTING = {"max_hosted_per_kernel": 3, "max_hosted_namespaces": 5, "hosted_vacancy": 7.5}


DOCUMENTS_APP = "tests.jupyter.custom_app:documents"


@pytest.mark.parametrize(
    "rt_config", [{"apps": [CUSTOM_APP, DOCUMENTS_APP], **HOSTING}], indirect=True
)
async def test_the_relay_keeps_the_apps_namespaces_and_takes_its_limits(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_rt"]
    relay = app.relay
    assert (relay.max_per_kernel, relay.max_total, relay.vacancy) == (3, 5, 7.5)
    assert "/custom" in relay.reserved and relay.refusal("/custom") is not None
    assert "matches a dynamic namespace" in relay.refusal("/doc-notes")
    assert relay.refusal("/free-for-a-kernel") is None
    assert relay.token() == jupyter.token


@pytest.mark.parametrize("trait", sorted(HOSTING))
def test_hosting_limits_must_be_positive(trait: str) -> None:
    with pytest.raises(TraitError, match="must be positive"):
        RealtimeApp(**{trait: 0})
