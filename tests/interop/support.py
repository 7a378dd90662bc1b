"""Helpers for the interop tests: a real jupyter_rt server in a subprocess, and runners for the
Node scenarios in ``tests/node/scenarios.mjs``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from jupyter_rt.testing import WaitTimeout, wait_until_sync
from tests import serve
from tests.helpers import REPO, Process, free_port, require_binary, require_node_packages, run_node

NODE_DIR = REPO / "tests" / "node"
SCENARIOS = NODE_DIR / "scenarios.mjs"
SERVER_MODULE = os.environ.get("JRT_INTEROP_SERVER_MODULE", "tests.interop.server_app")


class ServerProcess:
    """``tests.interop.server_app`` (or ``module``) run by ``tests.serve`` in a subprocess,
    stopped by its PID.

    ``extra`` are more ``--name value`` options of its ``make_app``."""

    def __init__(self, port: int | None = None, *extra: str, module: str = SERVER_MODULE) -> None:
        self.port = port or free_port()
        self.process = Process(
            serve.command(module, self.port, *extra),
            name=f"interop-{self.port}",
            cwd=REPO,
            env=serve.server_env(),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        """What the server printed so far."""
        return self.process.output()

    def start(self, timeout: float = 20) -> None:
        self.process.start()
        try:
            self.process.wait_for_output(r"(?m)^READY$", timeout)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"interop server did not start:\n{self.output}") from exc

    def stop(self) -> None:
        self.process.stop()

    def log(self, tag: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_interop/log?tag={tag}", timeout=5) as resp:
            return list(json.load(resp))

    def wait_log(
        self, tag: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Poll the server's log for ``tag`` until ``predicate`` holds; return the last log read
        (also when it never held: the test's assertion then says what it was)."""
        entries: list[dict[str, Any]] = []

        def holds() -> bool:
            nonlocal entries
            entries = self.log(tag)
            return predicate(entries)

        with contextlib.suppress(WaitTimeout):
            wait_until_sync(holds, timeout, 0.05)
        return entries

    async def await_log(
        self, tag: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.wait_log, tag, predicate, timeout)

    def tail(self) -> str:
        return "".join(self.output.splitlines(keepends=True)[-40:])


def disconnects(entries: list[dict[str, Any]]) -> list[str]:
    return [e["reason"] for e in entries if e["kind"] == "disconnect"]


def connects(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["kind"] == "connect"]


def node_binary() -> str:
    """``node``, with socket.io-client installed in tests/node (skips, or fails in CI, when not)."""
    require_node_packages("socket.io-client")
    return require_binary("node")


def _parse(stdout: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    result = None
    events = []
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
        elif line.startswith("EVENT "):
            events.append(json.loads(line[len("EVENT ") :]))
    return result, events


class NodeFailure(AssertionError):
    pass


def _check(scenario: str, result: dict[str, Any] | None, stdout: str, stderr: str) -> Any:
    if result is None:
        raise NodeFailure(
            f"node scenario {scenario!r} printed no RESULT\nstdout:\n{stdout}\nstderr:\n{stderr}"
        )
    if not result["ok"]:
        wire = "\n".join(json.dumps(w) for w in result.get("wire", []))
        raise NodeFailure(
            f"node scenario {scenario!r} failed: {result['error']}\n"
            f"data: {result.get('data')}\nwire:\n{wire}\nstderr:\n{stderr}"
        )
    return result["result"]


def run_scenario(scenario: str, url: str, timeout: float = 30, **options: Any) -> Any:
    """Run one scenario to its end and return its result (fails the test on a scenario error)."""
    node_binary()
    options.setdefault("deadline", int(timeout * 1000) - 3000)
    proc = run_node(SCENARIOS, scenario, url, json.dumps(options), timeout=timeout)
    result, _ = _parse(proc.stdout)
    return _check(scenario, result, proc.stdout, proc.stderr)


class NodeRun:
    """A scenario running in the background, read line by line (for tests that act meanwhile)."""

    def __init__(self, scenario: str, url: str, **options: Any) -> None:
        self.scenario = scenario
        self.proc = subprocess.Popen(
            [node_binary(), str(SCENARIOS), scenario, url, json.dumps(options)],
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def next_event(self, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.01, remaining))
            except queue.Empty:
                line = None
            if line is None:
                self.kill()
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                result, _ = _parse("".join(self.lines))
                if result is not None:
                    _check(self.scenario, result, "".join(self.lines), stderr)
                raise NodeFailure(
                    f"no EVENT from {self.scenario!r} within {timeout} s:\n"
                    f"{''.join(self.lines)}\nstderr:\n{stderr}"
                )
            self.lines.append(line)
            if line.startswith("EVENT "):
                return dict(json.loads(line[len("EVENT ") :]))

    def finish(self, timeout: float = 20) -> Any:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        while True:
            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        stdout = "".join(self.lines)
        stderr = self.proc.stderr.read() if self.proc.stderr else ""
        result, _ = _parse(stdout)
        return _check(self.scenario, result, stdout, stderr)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
