"""Connection state recovery through a real Jupyter server: ``c.RealtimeApp.
connection_state_recovery = True``, the official JS client, and a private id that only the
credentials that opened it can use."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from tests.jupyter.support import Jupyter, LogRecords, run_client

RECOVERY = {
    "connection_state_recovery": True,
    "max_disconnection_duration": 30,
    "apps": ["tests.jupyter.recovery_app:setup"],
}
CONNECT = "40/recovery,"
EVENT = "42/recovery,"

pytestmark = pytest.mark.parametrize("rt_config", [RECOVERY], indirect=True)


def realtime_io(jp_serverapp: Any) -> Any:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_rt"]
    return app.io


async def test_the_traitlets_turn_recovery_on(jupyter: Jupyter, jp_serverapp: Any) -> None:
    io = realtime_io(jp_serverapp)
    assert io.recovery is not None
    assert io.recovery.max_disconnection_duration == 30 and io.recovery.skip_middlewares


@pytest.mark.node
@pytest.mark.parametrize("transport", ["polling", "websocket", "upgrade"])
async def test_the_official_client_comes_back_with_what_it_missed(
    jupyter: Jupyter, transport: str
) -> None:
    r = await run_client("recovery", jupyter, transport=transport)
    assert r["transport"] == ("polling" if transport == "polling" else "websocket")
    assert r["before"]["recovered"] is False
    assert r["after"] == {"id": r["before"]["id"], "recovered": True}
    assert [e[:-1] for e in r["received"]] == [
        ["welcome", False],
        ["missed", 1],
        ["missed", 2],
        ["welcome", True],
    ]
    assert all(isinstance(e[-1], str) for e in r["received"])
    assert r["whoami"]["rooms"] == sorted([r["before"]["id"], "news"])
    assert r["whoami"]["recovered"] is True
    assert r["whoami"]["data"]["user"]  # socket.data came back (the Jupyter user's name)


async def connect(
    jupyter: Jupyter, headers: Mapping[str, str], auth: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any], list[list[Any]]]:
    """Open a polling session with ``headers`` and CONNECT to /recovery with ``auth``; return
    the Engine.IO sid, the CONNECT reply and the events up to the welcome."""
    sid = await jupyter.open_polling(headers)
    posted = await jupyter.post(sid, CONNECT + (json.dumps(auth) if auth else ""), headers)
    assert posted.code == 200, posted.body
    frames: list[str] = []
    while not any(f.startswith(EVENT + '["welcome"') for f in frames):
        response = await jupyter.poll(headers, sid=sid)
        assert response.code == 200, response.body
        frames += response.body.decode().split("\x1e")
    [reply] = [json.loads(f[len(CONNECT) :]) for f in frames if f.startswith(CONNECT)]
    events = [json.loads(f[len(EVENT) :]) for f in frames if f.startswith(EVENT)]
    return sid, reply, events


async def test_a_private_id_recovers_only_for_the_credentials_that_opened_it(
    jupyter: Jupyter, jp_serverapp: Any, rt_log: LogRecords
) -> None:
    io = realtime_io(jp_serverapp)
    token = jupyter.auth_header
    sid, reply, events = await connect(jupyter, token)
    assert set(reply) == {"sid", "pid"}
    [[name, recovered, offset]] = events
    assert (name, recovered) == ("welcome", False)
    assert (await jupyter.post(sid, "1", token)).code == 200  # the client closes its transport
    await io.of("/recovery").to("news").emit("missed", "for the token holder")

    # Someone else, logged in with a cookie, presents the private id and offset.
    login = await jupyter.login()
    cookie = {**login.header(), "X-XSRFToken": login.xsrf}
    stolen = {"pid": reply["pid"], "offset": offset}
    _, theirs, their_events = await connect(jupyter, cookie, stolen)
    assert theirs["sid"] != reply["sid"] and theirs["pid"] != reply["pid"]
    assert [e[:-1] for e in their_events] == [["welcome", False]]
    refusals = rt_log.matching("for other credentials")
    assert len(refusals) == 1 and reply["pid"] not in refusals[0]

    # The token holder still gets its session back.
    _, again, our_events = await connect(jupyter, token, {"pid": reply["pid"], "offset": offset})
    assert again == reply
    assert [e[:-1] for e in our_events] == [["missed", "for the token holder"], ["welcome", True]]
