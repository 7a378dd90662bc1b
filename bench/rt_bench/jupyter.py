"""jupyter_rt inside a real ``jupyter server``: the main column of ``run.py``, and ``hosted``.

    python bench/run.py                    # "jupyter_rt": the bench app in a Jupyter server
    python bench/run.py hosted             # a kernel-hosted namespace vs. the same in-process

Every side is a real ``jupyter server`` with jupyter_rt (token auth, 127.0.0.1, a free port),
started fresh for each run and serving namespace ``/bench`` with the handlers of
``servers/bench_app.py``:

- ``jupyter_rt`` and ``in-process``: the handlers are an app of the Jupyter server
  (``--RealtimeApp.apps=bench_app:setup``);
- ``hosted``: no app; a kernel started through the server's REST API (``POST /api/kernels``)
  runs a cell ``bench_app.install(host("/bench"))``, so the clients' packets cross the tunnel to
  the kernel and its acks and broadcasts come back through it.

The load generator (``load.mjs --namespace /bench``, the token in ``BENCH_TOKEN``) is the same
for both. The Jupyter server is pinned to the server core and its kernel inherits the pinning:
the two share that core, as the in-process server has it alone. Their CPU is reported together
(``server CPU``) and apart (``cpu_by_process``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tornado import httpclient, websocket

from jupyter_rt.testing import JupyterServer, Process

from . import BENCH, REPO

if TYPE_CHECKING:
    from .servers import Pinning

SERVERS = ("jupyter_rt", "in-process", "hosted", "comms")
"""``comms``: no app, a kernel started (:mod:`rt_bench.comms` runs its cells)."""
NAMESPACE = "/bench"

HOST_CELL = """
import os
import bench_app
from jupyter_rt.kernel import host

bench = host(bench_app.NAMESPACE)
bench_app.install(bench)
print("KERNEL_PID", os.getpid())
"""


class PinnedProcess(Process):
    """A :class:`Process` started through ``taskset`` (and at a priority) as the others are."""

    def __init__(self, argv: Sequence[str], pinning: Pinning, **kwargs: Any) -> None:
        super().__init__(pinning.wrap(list(argv), pinning.server_core), **kwargs)
        self.priority = pinning.priority

    def start(self) -> Process:
        super().start()
        if self.priority:
            try:
                Path(f"/proc/{self.pid}/autogroup").write_text(str(self.priority))
            except OSError as exc:
                print(f"  cannot set priority {self.priority}: {exc}", file=sys.stderr)
        return self


class JupyterBench:
    """A fresh Jupyter server serving ``/bench`` one way or the other (``name`` in
    :data:`SERVERS`), with what ``scenarios.run_scenario`` needs: ``url``, ``namespace``,
    ``load_env``, ``pid``, ``pids``, ``proc``, ``tail_log`` and ``stop``."""

    namespace = NAMESPACE

    def __init__(self, name: str, pinning: Pinning, log_path: Path) -> None:
        if name not in SERVERS:
            raise ValueError(name)
        self.name = name
        self.log_path = log_path
        self.kernel_id = ""
        self.kernel_pid: int | None = None
        self.home = Path(tempfile.mkdtemp(prefix=f"jupyter-rt-bench-{name}-"))
        path = os.pathsep.join(
            p for p in (str(REPO), str(BENCH / "servers"), os.environ.get("PYTHONPATH")) if p
        )
        apps = "[]" if name in ("hosted", "comms") else "bench_app:setup"

        def spawn(argv: Sequence[str], *, name: str, env: Mapping[str, str], cwd: Path) -> Process:
            process = PinnedProcess(argv, pinning, name=name, env=env, cwd=cwd, log_path=log_path)
            return process.start()

        self.jupyter = JupyterServer(
            self.home,
            traits={"RealtimeApp.apps": apps},
            env={"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
            spawn=spawn,
        )
        try:
            self.jupyter.start(timeout=90)
            if name == "hosted":
                self._host_in_a_kernel()
            elif name == "comms":
                self.start_kernel()
        except BaseException:
            self.stop()
            raise

    # -- what run.py uses ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.jupyter.port

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.jupyter.port}{self.jupyter.path}"

    @property
    def load_env(self) -> dict[str, str]:
        return {"BENCH_TOKEN": self.jupyter.token}

    @property
    def pid(self) -> int:
        return self.jupyter.pid

    @property
    def pids(self) -> dict[str, int]:
        """The processes that serve the clients: the Jupyter server, and the kernel if any."""
        out = {"jupyter": self.jupyter.pid}
        if self.kernel_pid is not None:
            out["kernel"] = self.kernel_pid
        return out

    @property
    def proc(self) -> Any:
        return self.jupyter.process.popen

    def tail_log(self, lines: int = 15) -> str:
        text = self.jupyter.log().strip().splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    def stop(self) -> None:
        """Shut the kernel down (REST), then the server; a kernel left over is killed by PID."""
        if self.kernel_id:
            with contextlib.suppress(OSError):
                self._request("DELETE", f"api/kernels/{self.kernel_id}")
            self.kernel_id = ""
        self.jupyter.stop()
        if self.kernel_pid is not None:
            deadline = time.monotonic() + 5
            while _alive(self.kernel_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(self.kernel_pid):
                with contextlib.suppress(OSError):
                    os.kill(self.kernel_pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)

    # -- the kernel ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.jupyter.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.jupyter.token}"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            data = response.read()
        return json.loads(data) if data else None

    def start_kernel(self) -> str:
        """Start a kernel through the REST API (shut down by :meth:`stop`); its id."""
        model = self._request("POST", "api/kernels", {"name": "python3"})
        self.kernel_id = str(model["id"])
        return self.kernel_id

    def run_cell(self, code: str, timeout: float = 90) -> str:
        """Run ``code`` in the kernel over its channels WebSocket, as JupyterLab runs cells;
        its stdout, or RuntimeError with its traceback."""
        return asyncio.run(self._run_cell(code, timeout))

    def _host_in_a_kernel(self) -> None:
        """Start a kernel on the server and run the cell that hosts ``/bench`` in it."""
        self.start_kernel()
        text = self.run_cell(HOST_CELL)
        pids = [line.split()[1] for line in text.splitlines() if line.startswith("KERNEL_PID")]
        if not pids:
            raise RuntimeError(f"the hosting cell printed no pid:\n{text}")
        self.kernel_pid = int(pids[-1])

    async def _run_cell(self, code: str, timeout: float) -> str:
        """Run ``code`` in the kernel; its stdout, or RuntimeError with its traceback."""
        url = self.jupyter.url.replace("http", "ws", 1)
        session = uuid.uuid4().hex
        request = httpclient.HTTPRequest(
            f"{url}api/kernels/{self.kernel_id}/channels?session_id={session}",
            headers={"Authorization": f"token {self.jupyter.token}"},
            request_timeout=timeout,
        )
        ws = await websocket.websocket_connect(request)
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "bench"}
        header.update({"session": session, "version": "5.3", "date": ""})
        content = {"code": code, "silent": False, "store_history": False}
        content.update({"user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
        ws.write_message(json.dumps({**message, "channel": "shell", "buffers": []}))
        stdout: list[str] = []
        error = ""
        status = ""
        idle = False
        deadline = time.monotonic() + timeout
        try:
            while not (idle and status):
                left = deadline - time.monotonic()
                raw = await asyncio.wait_for(ws.read_message(), max(left, 0.01))
                if raw is None:
                    raise RuntimeError("the kernel's WebSocket closed")
                if not isinstance(raw, str):
                    continue
                msg = json.loads(raw)
                if (msg.get("parent_header") or {}).get("msg_id") != msg_id:
                    continue
                kind, body = msg.get("msg_type"), msg.get("content", {})
                if kind == "stream":
                    stdout.append(body.get("text", ""))
                elif kind == "error":
                    error = "\n".join(body.get("traceback", [])) or str(body.get("evalue"))
                elif kind == "execute_reply":
                    status = str(body.get("status"))
                elif kind == "status" and body.get("execution_state") == "idle":
                    idle = True
        finally:
            ws.close()
        if status != "ok":
            raise RuntimeError(f"the cell failed: {error}")
        return "".join(stdout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
