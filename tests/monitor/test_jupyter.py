"""The monitor in a real Jupyter server: on by default, for the server's own token and for
logged-in users once its door answered them; nobody else, and never a credential in a payload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from jupyter_rt import ConnectionRefused
from jupyter_rt.client import AsyncClient
from jupyter_rt.monitor import MONITOR_NAMESPACE
from jupyter_rt.testing import JupyterServer, wait_until
from tests import secret_scan
from tests.helpers import Process, start_jupyter_server

pytestmark = pytest.mark.jupyter

BASE_URL = "/user/ada/"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One token-protected Jupyter server, default settings, under a base_url."""
    started: list[Process] = []

    def spawn(argv: Any, **kwargs: Any) -> Process:
        process = Process(argv, **kwargs)
        started.append(process)
        return process.start()

    try:
        yield start_jupyter_server(
            spawn, tmp_path_factory.mktemp("monitor-jupyter"), base_url=BASE_URL
        )
    finally:
        for process in started:
            process.stop()


def logged_in(jupyter: JupyterServer) -> requests.Session:
    """A browser's session after ``POST /login`` with the token: its login cookie only."""
    session = requests.Session()
    session.get(f"{jupyter.url}login", timeout=10).raise_for_status()
    form = {"password": jupyter.token, "_xsrf": session.cookies["_xsrf"]}
    response = session.post(f"{jupyter.url}login", data=form, timeout=10, allow_redirects=False)
    assert response.status_code == 302, response.status_code
    secret_scan.add_secret(*session.cookies.values())
    return session


async def watch(jupyter: JupyterServer, **options: Any) -> tuple[AsyncClient, dict[str, Any]]:
    """A watcher connected with ``options``; returns it and its snapshot."""
    snapshots: list[dict[str, Any]] = []
    client = AsyncClient()
    client.on("snapshot", snapshots.append, namespace=MONITOR_NAMESPACE)
    await client.connect(
        f"http://127.0.0.1:{jupyter.port}",
        path=f"{BASE_URL}socket.io/",
        namespaces=[MONITOR_NAMESPACE],
        transports=["websocket"],
        **options,
    )
    (snapshot,) = await wait_until(lambda: snapshots)
    return client, snapshot


async def test_the_server_token_watches_and_sees_a_chat(jupyter: JupyterServer) -> None:
    chatter = AsyncClient()
    await chatter.connect(
        f"http://127.0.0.1:{jupyter.port}",
        path=f"{BASE_URL}socket.io/",
        token=jupyter.token,
        namespaces=["/chat"],
    )
    watcher: AsyncClient | None = None
    try:
        watcher, snapshot = await watch(jupyter, token=jupyter.token)
        (chat,) = [nsp for nsp in snapshot["namespaces"] if nsp["name"] == "/chat"]
        assert chat["socketCount"] == 1
        assert chat["rooms"] == [{"name": "Lobby", "members": 1}]
        (listed,) = chat["sockets"]
        assert listed["id"] == chatter.get_sid("/chat")
        assert listed["user"]  # the Jupyter user's name
        assert jupyter.token not in json.dumps(snapshot)
    finally:
        await chatter.disconnect()
        if watcher is not None:
            await watcher.disconnect()


async def test_a_login_cookie_watches_once_the_door_answered(jupyter: JupyterServer) -> None:
    session = logged_in(jupyter)
    cookies = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items())}
    with pytest.raises(ConnectionRefused, match=r"ask GET socket\.io/monitor first"):
        await watch(jupyter, headers=cookies)

    door = session.get(f"{jupyter.url}socket.io/monitor", timeout=10)
    assert door.status_code == 200
    assert door.json() == {"namespace": MONITOR_NAMESPACE, "path": f"{BASE_URL}socket.io"}
    watcher, snapshot = await watch(jupyter, headers=cookies)
    await watcher.disconnect()
    text = json.dumps(snapshot)
    for value in session.cookies.values():
        assert value not in text
    assert "Refused a monitor connection" in jupyter.log()


def test_the_door_needs_a_login(jupyter: JupyterServer) -> None:
    response = requests.get(f"{jupyter.url}socket.io/monitor", timeout=10, allow_redirects=False)
    assert response.status_code in (302, 403)


@pytest.fixture
def rt_jupyter_options() -> dict[str, Any]:
    return {"traits": {"RealtimeApp.monitor": False}}


async def test_monitor_false_serves_neither_door_nor_namespace(rt_jupyter: JupyterServer) -> None:
    door = requests.get(
        f"{rt_jupyter.url}socket.io/monitor", params={"token": rt_jupyter.token}, timeout=10
    )
    assert door.status_code == 404
    client = AsyncClient()
    with pytest.raises(ConnectionRefused, match="Invalid namespace"):
        await client.connect(rt_jupyter.url, token=rt_jupyter.token, namespaces=[MONITOR_NAMESPACE])
