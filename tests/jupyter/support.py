"""Helpers for the tests against a real Jupyter server: raw Engine.IO requests with any mix of
credentials, a logged-in cookie, the official clients (python-socketio here, npm
``socket.io-client`` through ``clients.cjs``)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import socketio
from tornado import httpclient, websocket

from jupyter_rt.testing import wait_until
from tests import secret_scan
from tests.helpers import node_env, require_binary, require_node_packages, run_node

NODE_CLIENTS = Path(__file__).with_name("clients.cjs")
STEP = 10.0  # seconds any single wait may take


@dataclass
class Login:
    """The cookies a browser holds after logging in with the token (``POST /login``)."""

    cookies: dict[str, str]

    @property
    def xsrf(self) -> str:
        return self.cookies["_xsrf"]

    def header(self, *, xsrf_cookie: bool = True) -> dict[str, str]:
        jar = {k: v for k, v in self.cookies.items() if xsrf_cookie or k != "_xsrf"}
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


@dataclass
class Jupyter:
    """The running Jupyter server as seen from outside: URLs, token and raw requests."""

    port: int
    base_url: str
    token: str
    client: httpclient.AsyncHTTPClient = field(repr=False)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def path(self) -> str:
        """The Socket.IO ``path`` option: ``{base_url}socket.io``."""
        return self.base_url + "socket.io"

    @property
    def auth_header(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def url(self, path: str, query: Mapping[str, str] | None = None, scheme: str = "http") -> str:
        url = f"{scheme}://127.0.0.1:{self.port}{self.base_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        return url

    def engine_url(self, scheme: str = "http", **query: str) -> str:
        return self.url("socket.io/", {"EIO": "4", **query}, scheme)

    async def fetch(
        self,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        **kwargs: Any,
    ) -> httpclient.HTTPResponse:
        """A request that returns error responses instead of raising them."""
        return await self.client.fetch(
            url,
            method=method,
            headers=dict(headers or {}),
            body=body,
            raise_error=False,
            follow_redirects=False,
            request_timeout=STEP,
            **kwargs,
        )

    async def poll(
        self, headers: Mapping[str, str] | None = None, **query: str
    ) -> httpclient.HTTPResponse:
        return await self.fetch(self.engine_url(transport="polling", **query), headers=headers)

    async def post(
        self, sid: str, body: str, headers: Mapping[str, str] | None = None, **query: str
    ) -> httpclient.HTTPResponse:
        url = self.engine_url(transport="polling", sid=sid, **query)
        return await self.fetch(url, "POST", headers, body)

    async def open_polling(self, headers: Mapping[str, str] | None = None, **query: str) -> str:
        """Open an Engine.IO session over polling and return its sid (asserts success)."""
        response = await self.poll(headers, **query)
        assert response.code == 200, (response.code, response.body)
        return str(handshake(response.body)["sid"])

    async def websocket(
        self, headers: Mapping[str, str] | None = None, **query: str
    ) -> websocket.WebSocketClientConnection:
        """Open the WebSocket transport (raises ``HTTPClientError`` when refused)."""
        request = httpclient.HTTPRequest(
            self.engine_url("ws", transport="websocket", **query),
            headers=dict(headers or {}),
            request_timeout=STEP,
        )
        return await websocket.websocket_connect(request)

    async def login(self) -> Login:
        """Log in as a browser does: ``GET /login`` for ``_xsrf``, then post the token."""
        first = await self.fetch(self.url("login"))
        assert first.code == 200, first.code
        cookies = cookies_of(first)
        body = urllib.parse.urlencode({"password": self.token, "_xsrf": cookies["_xsrf"]})
        jar = Login(cookies)
        response = await self.fetch(self.url("login"), "POST", jar.header(), body)
        assert response.code == 302, (response.code, response.body)
        cookies.update(cookies_of(response))
        assert any(k.startswith("username-") for k in cookies), cookies
        secret_scan.add_secret(*cookies.values())
        return Login(cookies)

    async def identity(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """``/api/me``'s identity for these credentials."""
        response = await self.fetch(self.url("api/me"), headers=headers)
        assert response.code == 200, response.code
        return dict(json.loads(response.body)["identity"])


def cookies_of(response: httpclient.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items() if morsel.value}


def handshake(body: bytes | str) -> dict[str, Any]:
    """The Engine.IO OPEN packet's JSON (asserts the body is exactly one OPEN packet)."""
    text = body.decode() if isinstance(body, bytes) else body
    assert text.startswith("0"), text
    return dict(json.loads(text[1:]))


# -- python-socketio ----------------------------------------------------------------------------


@asynccontextmanager
async def sio_client(
    jupyter: Jupyter,
    namespaces: Sequence[str],
    transports: Sequence[str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    token_in_url: bool = True,
    setup: Callable[[socketio.AsyncClient], object] | None = None,
    **options: Any,
) -> AsyncIterator[socketio.AsyncClient]:
    """A connected ``socketio.AsyncClient`` (no reconnection), disconnected at exit.

    python-engineio sends custom headers only with its first request, so a token client puts
    ``?token=`` in the URL, as documented in the README.
    """
    sio = socketio.AsyncClient(reconnection=False, **options)
    if setup is not None:
        setup(sio)  # handlers registered before connecting see the first events
    url = jupyter.origin + (f"?token={jupyter.token}" if token_in_url else "")
    try:
        await asyncio.wait_for(
            sio.connect(
                url,
                headers=dict(headers or {}),
                transports=list(transports) if transports else None,
                namespaces=list(namespaces),
                socketio_path=jupyter.path,
                wait_timeout=STEP,
            ),
            STEP,
        )
        yield sio
    finally:
        await sio.disconnect()


class Inbox:
    """Events received by a python-socketio client, awaited one by one."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[Any]] = {}

    def queue(self, event: str) -> asyncio.Queue[Any]:
        return self._queues.setdefault(event, asyncio.Queue())

    def listen(self, sio: socketio.AsyncClient, namespace: str, *events: str) -> Inbox:
        for event in events:

            def handler(*args: Any, _event: str = event) -> None:
                self.queue(_event).put_nowait(args[0] if len(args) == 1 else list(args))

            sio.on(event, handler, namespace=namespace)
        return self

    def listener(self, namespace: str, *events: str) -> Callable[[socketio.AsyncClient], Inbox]:
        """``setup=`` for :func:`sio_client`: listen before connecting."""
        return lambda sio: self.listen(sio, namespace, *events)

    async def next(self, event: str, timeout: float = STEP) -> Any:
        return await asyncio.wait_for(self.queue(event).get(), timeout)

    def pending(self, event: str) -> list[Any]:
        """What arrived and was not taken yet (without waiting)."""
        queue, items = self.queue(event), []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items


# -- npm socket.io-client -----------------------------------------------------------------------


async def run_client(scenario: str, jupyter: Jupyter, timeout: float = 40, **options: Any) -> Any:
    """Run ``clients.cjs <scenario>`` to its end without blocking the event loop (the server
    runs on it) and return its RESULT; a failed scenario fails the test."""
    require_node_packages("socket.io-client")
    config = node_config(jupyter, options)
    proc = await asyncio.to_thread(
        run_node, NODE_CLIENTS, scenario, json.dumps(config), timeout=timeout
    )
    return scenario_result(scenario, proc.stdout.splitlines(keepends=True))


def node_config(jupyter: Jupyter, options: Mapping[str, Any]) -> dict[str, Any]:
    """What ``clients.cjs`` needs to reach ``jupyter``, with the scenario's ``options``."""
    return {"origin": jupyter.origin, "path": jupyter.path, "token": jupyter.token, **options}


def scenario_result(scenario: str, lines: Sequence[str]) -> Any:
    """The result in a scenario's ``RESULT`` line; fails the test if it failed or has none."""
    for line in lines:
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            if not result["ok"]:
                raise AssertionError(f"node scenario {scenario!r} failed: {result['error']}")
            return result["result"]
    raise AssertionError(f"node {scenario!r} ended with no RESULT:\n" + "".join(lines))


def jupyter_command(*args: str) -> list[str]:
    """``jupyter <args>`` run by this interpreter."""
    return [sys.executable, "-m", "jupyter", *args]


class LogRecords(logging.Handler):
    """A handler keeping every record it gets (the ``rt_log`` fixture)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]

    def matching(self, pattern: str) -> list[str]:
        return [m for m in self.messages() if re.search(pattern, m)]

    async def wait_for(self, pattern: str, count: int = 1, timeout: float = STEP) -> list[str]:
        """Wait until ``count`` messages match ``pattern``; return the matches."""
        await wait_until(
            lambda: len(self.matching(pattern)) >= count,
            timeout,
            0.02,
            lambda: f"{count} x {pattern!r} logged; got {self.matching(pattern)}",
        )
        return self.matching(pattern)


class NodeClient:
    """``clients.cjs <scenario>`` running in the background: wait for its lines, then its RESULT.

    For scenarios that meet other clients half way (``chatPeer`` prints ``READY``)."""

    def __init__(self, scenario: str, jupyter: Jupyter, **options: Any) -> None:
        self.scenario = scenario
        self.config = node_config(jupyter, options)
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []

    async def __aenter__(self) -> NodeClient:
        node = require_binary("node")
        require_node_packages("socket.io-client")
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(NODE_CLIENTS),
            self.scenario,
            json.dumps(self.config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=node_env(),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    async def _line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not raw:
            raise AssertionError(f"node {self.scenario!r} ended:\n" + "".join(self.lines))
        line = raw.decode()
        self.lines.append(line)
        return line.rstrip("\n")

    async def wait_line(self, text: str, timeout: float = STEP) -> None:
        while (line := await self._line(timeout)) != text:
            if line.startswith("RESULT "):
                raise AssertionError(f"node {self.scenario!r} stopped early: {line}")

    async def result(self, timeout: float = 30) -> Any:
        while not (line := await self._line(timeout)).startswith("RESULT "):
            pass
        return scenario_result(self.scenario, [line])
