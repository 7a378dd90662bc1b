"""Connection state recovery through a real Jupyter server: ``c.RealtimeApp.
connection_state_recovery = True``, the official JS client, ``jupyter_rt.client`` (async and
blocking), and a private id that only the credentials that opened it can use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from jupyter_rt.client import AsyncClient, Client
from jupyter_rt.testing import wait_until
from tests.jupyter.support import STEP, Jupyter, LogRecords, run_client

RECOVERY = {
    "connection_state_recovery": True,
    "max_disconnection_duration": 30,
    "apps": ["tests.jupyter.recovery_app:setup"],
}
CONNECT = "40/recovery,"
EVENT = "42/recovery,"

NAMESPACE = "/recovery"

with_recovery = pytest.mark.parametrize("rt_config", [RECOVERY], indirect=True)


def realtime_io(jp_serverapp: Any) -> Any:
    (app,) = jp_serverapp.extension_manager.extension_apps["jupyter_rt"]
    return app.io


@with_recovery
async def test_the_traitlets_turn_recovery_on(jupyter: Jupyter, jp_serverapp: Any) -> None:
    io = realtime_io(jp_serverapp)
    assert io.recovery is not None
    assert io.recovery.max_disconnection_duration == 30 and io.recovery.skip_middlewares


@with_recovery
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


@with_recovery
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


# -- jupyter_rt.client -------------------------------------------------------------------------


class Recorder:
    """What a ``jupyter_rt.client`` client lives through on /recovery: every event (without the
    offsets, which the client takes off) and each ``connect`` with ``recovered``, in order."""

    def __init__(self, client: AsyncClient | Client) -> None:
        self.client = client
        self.heard: list[Any] = []
        client.on("*", lambda event, *args: self.heard.append([event, *args]))
        client.on("connect", lambda: self.heard.append(("connect", client.recovered)))
        client.on("disconnect", lambda reason: self.heard.append(("disconnect", reason)))

    def connects(self) -> list[Any]:
        return [h for h in self.heard if isinstance(h, tuple) and h[0] == "connect"]


def options(transports: Sequence[str] | None, jupyter: Jupyter) -> dict[str, Any]:
    return {
        "path": jupyter.path,
        "token": jupyter.token,
        "namespaces": [NAMESPACE],
        "transports": transports,
    }


def make_client(kind: type[AsyncClient] | type[Client], delay: float) -> Any:
    """A client that comes back ``delay`` seconds after it lost its connection, no sooner."""
    return kind(reconnection_delay=delay, randomization_factor=0, connect_timeout=STEP)


async def lose_connection(jp_serverapp: Any, client: AsyncClient | Client, by: str) -> str:
    """Drop the client's transport (``by`` the client or the server) once it is on its last
    transport; return its socket id once the server saw it go."""
    await wait_until(lambda: client.transport == "websocket" or client.transport == "polling")
    sid = client.sid
    assert sid is not None
    nsp = realtime_io(jp_serverapp).of(NAMESPACE)
    if by == "client":
        client.drop()
    else:
        nsp.sockets[sid].conn.close()  # Engine.IO CLOSE: the client comes back on its own
    await wait_until(lambda: sid not in nsp.sockets, STEP, 0.01, "the server to see it go")
    return sid


async def send_while_away(jp_serverapp: Any, sid: str) -> None:
    """Three events the client misses: to its room, to its socket, to everyone."""
    nsp = realtime_io(jp_serverapp).of(NAMESPACE)
    await nsp.to("news").emit("missed", 1)
    await nsp.to(sid).emit("missed", 2)
    await nsp.emit("missed", 3)


TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": None}


@with_recovery
@pytest.mark.parametrize("by", ["client", "server"])
@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_the_python_client_comes_back_with_its_socket_rooms_and_what_it_missed(
    jupyter: Jupyter, jp_serverapp: Any, transport: str, by: str
) -> None:
    client = make_client(AsyncClient, 0.5)
    life = Recorder(client)
    await client.connect(jupyter.origin, **options(TRANSPORTS[transport], jupyter))
    try:
        await wait_until(lambda: ["welcome", False] in life.heard)
        if transport == "upgrade":
            await wait_until(lambda: client.transport == "websocket", STEP)
        sid = await lose_connection(jp_serverapp, client, by)
        await send_while_away(jp_serverapp, sid)
        await wait_until(lambda: len(life.connects()) == 2, STEP, 0.02, lambda: life.heard)
        assert client.sid == sid and client.recovered and client.is_recovered(NAMESPACE)
        who = await client.call("whoami")
        assert who["id"] == sid and who["recovered"] is True and who["data"]["user"]
        assert who["rooms"] == sorted([sid, "news"])  # kept: nobody joined it again
        await realtime_io(jp_serverapp).of(NAMESPACE).to("news").emit("after")
        await wait_until(lambda: ["after"] in life.heard)
        reason = life.heard[2]
        assert reason in (("disconnect", "transport close"), ("disconnect", "transport error"))
        assert life.heard[:2] + life.heard[3:] == [
            ("connect", False),
            ["welcome", False],
            ["missed", 1],  # the missed events, once, in order, before the connect handlers
            ["missed", 2],
            ["missed", 3],
            ("connect", True),
            ["welcome", True],
            ["after"],
        ]
        assert client.transport == ("polling" if transport == "polling" else "websocket")
    finally:
        await client.disconnect()


@with_recovery
@pytest.mark.parametrize("by", ["client", "server"])
async def test_the_blocking_client_comes_back_too(
    jupyter: Jupyter, jp_serverapp: Any, by: str
) -> None:
    """The server runs on this test's loop: the blocking calls go to a thread."""
    client = make_client(Client, 0.5)
    life = Recorder(client)
    try:
        connect = options(["polling"], jupyter)
        await asyncio.to_thread(client.connect, jupyter.origin, **connect)
        await wait_until(lambda: ["welcome", False] in life.heard)
        sid = await lose_connection(jp_serverapp, client, by)
        await send_while_away(jp_serverapp, sid)
        await wait_until(lambda: len(life.connects()) == 2, STEP, 0.02, lambda: life.heard)
        assert client.sid == sid and client.recovered and client.is_recovered()
        who = await asyncio.to_thread(client.call, "whoami")
        assert who["rooms"] == sorted([sid, "news"]) and who["recovered"] is True
        assert [h for h in life.heard if isinstance(h, list)] == [
            ["welcome", False],
            ["missed", 1],
            ["missed", 2],
            ["missed", 3],
            ["welcome", True],
        ]
    finally:
        await asyncio.to_thread(client.close)


async def check_fresh_session(jupyter: Jupyter, jp_serverapp: Any, delay: float) -> None:
    """The client drops, stays away ``delay`` seconds and comes back to a fresh session: a new
    socket id, ``recovered`` false, its rooms joined again by the app, nothing replayed."""
    client = make_client(AsyncClient, delay)
    life = Recorder(client)
    await client.connect(jupyter.origin, **options(["websocket"], jupyter))
    try:
        await wait_until(lambda: ["welcome", False] in life.heard)
        sid = await lose_connection(jp_serverapp, client, "client")
        await send_while_away(jp_serverapp, sid)
        await wait_until(lambda: len(life.connects()) == 2, STEP + delay, 0.02, lambda: life.heard)
        assert client.sid != sid and not client.recovered
        who = await client.call("whoami")
        assert who["recovered"] is False and who["rooms"] == sorted([client.sid, "news"])
        assert [h for h in life.heard if isinstance(h, list)] == [
            ["welcome", False],
            ["welcome", False],
        ]
    finally:
        await client.disconnect()


@pytest.mark.parametrize(
    "rt_config", [{**RECOVERY, "max_disconnection_duration": 0.5}], indirect=True
)
async def test_a_client_away_longer_than_the_sessions_are_kept_gets_a_fresh_one(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    await check_fresh_session(jupyter, jp_serverapp, 1.0)


@pytest.mark.parametrize("rt_config", [{"apps": RECOVERY["apps"]}], indirect=True)
async def test_without_recovery_the_client_comes_back_to_a_fresh_session(
    jupyter: Jupyter, jp_serverapp: Any
) -> None:
    await check_fresh_session(jupyter, jp_serverapp, 0.1)
