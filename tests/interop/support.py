"""Helpers for the interop tests: a real jupyter_rt server in a subprocess, and a runner for the
Node scenarios in ``tests/node/scenarios.mjs``."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.helpers import free_port, require_binary, require_node_packages

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
SCENARIOS = NODE_DIR / "scenarios.mjs"
SERVER_MODULE = os.environ.get("JRT_INTEROP_SERVER_MODULE", "tests.interop.server_app")


class ServerProcess:
    """``python -m tests.interop.server_app --port N`` in a subprocess, stopped by its PID."""

    def __init__(self, port: int | None = None, *extra: str) -> None:
        self.port = port or free_port()
        self.extra = extra
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", SERVER_MODULE, "--port", str(self.port), *self.extra],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.strip() == "READY":
                self._drain()
                return
        self.stop()
        raise RuntimeError(f"interop server did not start:\n{''.join(self.output)}")

    def _drain(self) -> None:
        # Keep reading the server's output so it never blocks on a full pipe.
        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)

        threading.Thread(target=pump, daemon=True).start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log(self, tag: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_interop/log?tag={tag}", timeout=5) as resp:
            return list(json.load(resp))

    def wait_log(
        self, tag: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Poll the server's log for ``tag`` until ``predicate`` holds; return the last log read."""
        deadline = time.monotonic() + timeout
        entries = self.log(tag)
        while not predicate(entries) and time.monotonic() < deadline:
            time.sleep(0.05)
            entries = self.log(tag)
        return entries

    async def await_log(
        self, tag: str, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5
    ) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self.wait_log, tag, predicate, timeout)

    def tail(self) -> str:
        return "".join(self.output[-40:])


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


def run_node(scenario: str, url: str, timeout: float = 30, **options: Any) -> Any:
    """Run one scenario to its end and return its result (fails the test on a scenario error)."""
    node = node_binary()
    options.setdefault("deadline", int(timeout * 1000) - 3000)
    proc = subprocess.run(
        [node, str(SCENARIOS), scenario, url, json.dumps(options)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
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
