"""Helpers for the tests of kernel-hosted namespaces: kernels started by a real Jupyter server
(its REST API) running code sent over their channels WebSocket, as JupyterLab does, and the
official npm ``socket.io-client`` driven line by line (``js_client.cjs``)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tornado import httpclient, websocket

from jupyter_rt.testing import JupyterServer, wait_until
from tests.helpers import node_env, require_binary, require_node_packages

JS_CLIENT = Path(__file__).with_name("js_client.cjs")
STEP = 20.0  # seconds any single wait may take
CELL = 40.0  # seconds a cell may take (the first host() of a kernel opens its tunnel)


# -- kernels ----------------------------------------------------------------------------------


@dataclass
class Execution:
    """What one ``execute_request`` produced, as the notebook shows it: its outputs keep
    coming after the reply (from the hosting thread)."""

    msg_id: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    error: str | None = None
    reply: dict[str, Any] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def text(self) -> str:
        return "".join(self.stdout)

    @property
    def errors(self) -> str:
        return "".join(self.stderr)


class Kernel:
    """A kernel started by ``server`` (``POST /api/kernels``), as JupyterLab runs cells on it.

    ``await kernel.run(code)`` runs a cell and returns its :class:`Execution` once the cell is
    done (raising if the cell raised); ``kernel.submit(code)`` starts one and returns at once.
    """

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.id = ""
        self.session = uuid.uuid4().hex
        self.http = httpclient.AsyncHTTPClient(force_instance=True)
        self.ws: websocket.WebSocketClientConnection | None = None
        self.executions: dict[str, Execution] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.server.token}"}

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.fetch(
            self.server.url + path,
            method=method,
            headers=self.headers,
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=60,
        )
        return json.loads(response.body) if response.body else None

    async def start(self) -> Kernel:
        model = await self._request("POST", "api/kernels", {"name": "python3"})
        self.id = model["id"]
        await self._connect()
        # The first request waits for the kernel to be up.
        await self.run("import jupyter_rt", timeout=60)
        return self

    async def _connect(self) -> None:
        url = self.server.url.replace("http", "ws", 1)
        request = httpclient.HTTPRequest(
            f"{url}api/kernels/{self.id}/channels?session_id={self.session}",
            headers=self.headers,
            request_timeout=60,
        )
        self.ws = await websocket.websocket_connect(request, max_message_size=64 << 20)
        self._reader = asyncio.ensure_future(self._read(self.ws))

    async def _read(self, ws: websocket.WebSocketClientConnection) -> None:
        while True:
            message = await ws.read_message()
            if message is None:
                return
            if isinstance(message, bytes):
                continue
            msg = json.loads(message)
            parent = (msg.get("parent_header") or {}).get("msg_id")
            execution = self.executions.get(parent)
            if execution is None:
                continue
            kind, content = msg.get("msg_type"), msg.get("content", {})
            if kind == "stream":
                target = execution.stdout if content.get("name") == "stdout" else execution.stderr
                target.append(content.get("text", ""))
            elif kind == "error":
                execution.error = "\n".join(content.get("traceback", [])) or content.get("evalue")
            elif kind == "execute_reply":
                execution.reply = content
            elif kind == "status" and content.get("execution_state") == "idle":
                execution.idle.set()

    def submit(self, code: str) -> Execution:
        """Start running ``code`` as a cell; returns at once."""
        assert self.ws is not None
        msg_id = uuid.uuid4().hex
        execution = self.executions[msg_id] = Execution(msg_id)
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": self.session,
            "version": "5.3",
            "date": "",
        }
        message = {
            "header": header,
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": textwrap.dedent(code),
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        self.ws.write_message(json.dumps(message))
        return execution

    async def finish(self, execution: Execution, timeout: float = CELL) -> Execution:
        """Wait for a submitted cell to be done; raises AssertionError if it raised."""
        await asyncio.wait_for(execution.idle.wait(), timeout)
        if execution.error is not None:
            raise AssertionError(f"the cell raised:\n{execution.error}\n{execution.errors}")
        return execution

    async def run(self, code: str, timeout: float = CELL) -> Execution:
        """Run ``code`` as a cell and wait until it is done; raises if the cell raised."""
        return await self.finish(self.submit(code), timeout)

    async def run_failing(self, code: str, timeout: float = CELL) -> str:
        """Run a cell that must raise; returns its traceback text."""
        execution = self.submit(code)
        await asyncio.wait_for(execution.idle.wait(), timeout)
        assert execution.error is not None, f"the cell did not raise: {execution.text}"
        return execution.error

    async def value(self, expression: str, timeout: float = CELL) -> Any:
        """The value of a Python expression in the kernel (through JSON)."""
        execution = await self.run(
            f"import json as _json; print(_json.dumps({expression}))", timeout
        )
        return json.loads(execution.text.strip().splitlines()[-1])

    async def restart(self) -> None:
        await self._request("POST", f"api/kernels/{self.id}/restart", {})
        await self.run("import jupyter_rt", timeout=60)

    async def shutdown(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self.ws is not None:
            self.ws.close()
        if self.id:
            with contextlib.suppress(httpclient.HTTPClientError, OSError):
                await self._request("DELETE", f"api/kernels/{self.id}")
            self.id = ""
        self.http.close()


@contextlib.asynccontextmanager
async def running_kernel(server: JupyterServer) -> AsyncIterator[Kernel]:
    kernel = Kernel(server)
    try:
        yield await kernel.start()
    finally:
        await kernel.shutdown()


# -- the official JS client -------------------------------------------------------------------


def js_bytes(data: bytes) -> dict[str, str]:
    """A ``bytes`` argument for :class:`JsClients` commands."""
    return {"$bytes": base64.b64encode(data).decode()}


def from_js(value: Any) -> Any:
    """Observed values with their ``bytes`` back."""
    if isinstance(value, list):
        return [from_js(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return base64.b64decode(value["$bytes"])
        return {k: from_js(v) for k, v in value.items()}
    return value


class JsClients:
    """npm ``socket.io-client`` sockets in one Node process, opened and driven by name."""

    def __init__(self, server: JupyterServer) -> None:
        self.server = server
        self.proc: asyncio.subprocess.Process | None = None
        self.seen: list[dict[str, Any]] = []
        self._requests = 0
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> JsClients:
        node = require_binary("node")
        require_node_packages("socket.io-client")
        config = {
            "origin": f"http://127.0.0.1:{self.server.port}",
            "path": self.server.path.rstrip("/"),
            "token": self.server.token,
        }
        self.proc = await asyncio.create_subprocess_exec(
            node,
            str(JS_CLIENT),
            json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=node_env(),
        )
        self._pump = asyncio.ensure_future(self._read())
        await self.wait_for(lambda m: m["type"] == "ready", "node to start")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self._pump is not None:
            self._pump.cancel()

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            try:
                message = json.loads(raw)
            except ValueError:
                message = {"type": "output", "text": raw.decode(errors="replace")}
            self.seen.append(message)

    def send(self, **command: Any) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())

    async def wait_for(
        self,
        match: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = STEP,
        start: int = 0,
    ) -> dict[str, Any]:
        """The first observation since ``start`` that ``match`` accepts."""
        found: list[dict[str, Any]] = []

        def seen() -> bool:
            errors = [m for m in self.seen if m["type"] == "error"]
            assert not errors, errors
            found[:] = [m for m in self.seen[start:] if match(m)][:1]
            return bool(found)

        await wait_until(seen, timeout, 0.02, lambda: f"{what}; saw {self.seen[-20:]}")
        return found[0]

    def mark(self) -> int:
        """A position in what was seen, for :meth:`wait_for` ``start``."""
        return len(self.seen)

    # -- sockets ------------------------------------------------------------------------------

    async def open(self, id: str, ns: str, *, wait: bool = True, **options: Any) -> dict[str, Any]:
        """Open socket ``id`` on namespace ``ns``; wait for its connect (or connect_error)."""
        start = self.mark()
        self.send(op="open", id=id, ns=ns, options=options)
        if not wait:
            return {}
        return await self.connected(id, start)

    async def connected(self, id: str, start: int = 0, timeout: float = STEP) -> dict[str, Any]:
        message = await self.wait_for(
            lambda m: m.get("id") == id and m["type"] in ("connect", "connect_error"),
            f"{id} to connect",
            timeout,
            start,
        )
        if message["type"] == "connect_error":
            raise AssertionError(f"{id} was refused: {message}")
        return message

    async def refused(self, id: str, start: int = 0) -> dict[str, Any]:
        return await self.wait_for(
            lambda m: m.get("id") == id and m["type"] == "connect_error",
            f"{id} refused",
            STEP,
            start,
        )

    def emit(self, id: str, event: str, *args: Any) -> None:
        self.send(op="emit", id=id, event=event, args=list(args))

    async def call(self, id: str, event: str, *args: Any, timeout: float = STEP) -> list[Any]:
        """Emit with an ack; returns the ack's arguments (raises on an ack timeout)."""
        self._requests += 1
        req = self._requests
        self.send(op="emit", id=id, event=event, args=list(args), req=req, timeout=timeout * 1000)
        message = await self.wait_for(
            lambda m: m["type"] == "ack" and m["req"] == req, f"the ack of {event}", timeout + 1
        )
        if message["err"] is not None:
            raise AssertionError(f"{id} {event}: {message['err']}")
        return list(from_js(message["args"]))

    async def event(self, id: str, event: str, start: int = 0, timeout: float = STEP) -> list[Any]:
        """The arguments of the first ``event`` socket ``id`` got since ``start``."""
        message = await self.wait_for(
            lambda m: m["type"] == "event" and m["id"] == id and m["event"] == event,
            f"{id} to get {event}",
            timeout,
            start,
        )
        return list(from_js(message["args"]))

    def events(self, id: str, event: str, start: int = 0) -> list[list[Any]]:
        return [
            list(from_js(m["args"]))
            for m in self.seen[start:]
            if m["type"] == "event" and m["id"] == id and m["event"] == event
        ]

    async def disconnected(self, id: str, start: int = 0, timeout: float = STEP) -> str:
        message = await self.wait_for(
            lambda m: m["type"] == "disconnect" and m["id"] == id,
            f"{id} to disconnect",
            timeout,
            start,
        )
        return str(message["reason"])
