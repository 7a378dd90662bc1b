"""The servers under test, started fresh for each run, pinned to the server core.

``jupyter_rt`` is the product: jupyter_rt inside a real ``jupyter server`` (token auth, the
bench app ``bench_app:setup`` in ``c.RealtimeApp.apps``, see :mod:`rt_bench.jupyter`);
``standalone`` is ``jupyter_rt.transports.mount`` on a bare Tornado app; ``node`` (socket.io
4.8) and ``python-socketio`` are the references.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from . import BENCH, REPO, RESULTS

SERVERS = ("jupyter_rt", "standalone", "node", "python-socketio")
"""The servers of a default run; ``jupyter_rt`` (inside Jupyter) is the subject."""
ADMIN = "standalone+admin"
"""The standalone server with the Admin UI, production mode."""
VARIANTS = ("standalone-recovery", ADMIN)
"""Servers run only when named: with connection state recovery on, with the Admin UI."""
HOSTED_SERVERS = ("in-process", "hosted")
"""``run.py hosted``: both in a real Jupyter server, the handlers in it or in a kernel."""
JUPYTER_SERVERS = {"jupyter_rt", *HOSTED_SERVERS}
PYTHON_SERVERS = {"jupyter_rt", "standalone", "python-socketio", *VARIANTS, *HOSTED_SERVERS}


@dataclass
class Settings:
    """Sizes and times of the scenarios (``--quick``: :meth:`quick`)."""

    connect_clients: int = 5000
    echo_clients: int = 50
    fanout_clients: int = 1000
    cluster_clients: int = 1000
    poll_clients: int = 50
    paced_clients: int = 1000
    paced_rate: float = 5.0
    scale_sizes: tuple[int, ...] = (10, 100, 1000, 5000)
    rooms: int = 1000
    comms_messages: int = 20000
    duration: float = 5.0
    warmup: float = 1.0
    settle: float = 2.0
    window: int = 8
    payload: int = 100
    concurrency: int = 100
    deflate: bool = True
    timeout: float = 120.0

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            connect_clients=200,
            echo_clients=10,
            fanout_clients=50,
            cluster_clients=50,
            poll_clients=5,
            paced_clients=50,
            paced_rate=20.0,
            scale_sizes=(10, 50),
            rooms=10,
            comms_messages=500,
            duration=1.0,
            warmup=0.3,
            settle=0.2,
            timeout=30.0,
        )


@dataclass
class Pinning:
    server_core: str | None
    load_core: str | None
    priority: int = 0  # autogroup nice value for the server and the load generator

    def wrap(self, cmd: list[str], core: str | None) -> list[str]:
        if core is None:
            return cmd
        return ["taskset", "-c", core, *cmd]


def start_pinned(cmd: list[str], pinning: Pinning, **popen: Any) -> subprocess.Popen[str]:
    """Start ``cmd`` in a session of its own, at ``pinning.priority`` if one is asked for.

    Linux schedules each session as an autogroup, and nice values only weigh within one, so a
    priority is set on the process's own autogroup (``/proc/<pid>/autogroup``).
    """
    proc: subprocess.Popen[str] = subprocess.Popen(cmd, start_new_session=True, text=True, **popen)
    if pinning.priority:
        try:
            Path(f"/proc/{proc.pid}/autogroup").write_text(str(pinning.priority))
        except OSError as exc:
            print(f"  cannot set priority {pinning.priority}: {exc}", file=sys.stderr)
    return proc


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_command(name: str) -> list[str]:
    """The command line of a server that prints ``READY <port>`` (not the Jupyter ones)."""
    if name == "standalone":
        return [sys.executable, str(BENCH / "servers" / "jupyter_rt_server.py"), "0"]
    if name == "standalone-recovery":
        return [*server_command("standalone"), "--recovery"]
    if name == ADMIN:
        return [*server_command("standalone"), "--admin", "production"]
    if name == "node":
        return ["node", str(BENCH / "servers" / "node_server.mjs"), "0"]
    if name == "python-socketio":
        return [sys.executable, str(BENCH / "servers" / "pysio_server.py"), "0"]
    raise ValueError(name)


def open_server(name: str, pinning: Pinning) -> Any:
    """A fresh server ``name``, ready: a :class:`ServerProcess` or a ``jupyter.JupyterBench``."""
    log = RESULTS / f"server-{name}.log"
    if name in JUPYTER_SERVERS:
        from .jupyter import JupyterBench

        return JupyterBench(name, pinning, log)
    return ServerProcess(name, pinning, log, server_command(name))


class ServerProcess:
    """One server under test, pinned to its core, started and stopped by this harness."""

    namespace = "/"
    load_env: dict[str, str] = {}  # noqa: RUF012 - read only

    def __init__(
        self,
        name: str,
        pinning: Pinning,
        log_path: Path,
        command: list[str],
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.log: IO[str] = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        # The jupyter_rt under test is the one in this checkout, installed or not.
        path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
        self.proc = start_pinned(
            pinning.wrap(command, pinning.server_core),
            pinning,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            cwd=BENCH,
            env=dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path, **(env or {})),
        )
        self.port = self._wait_ready(30.0)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/"

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def pids(self) -> dict[str, int]:
        """The processes that serve the clients, by role (their CPU time is the server's)."""
        return {"server": self.proc.pid}

    def _wait_ready(self, timeout: float) -> int:
        assert self.proc.stdout is not None
        found: list[int] = []

        def reader() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith("READY ") and not found:
                    found.append(int(line.split()[1]))
                else:
                    self.log.write(line)

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        last = self.tail_log(1)
        raise RuntimeError(f"{self.name} server did not start: {last} (see {self.log_path})")

    def tail_log(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError, ValueError):
            if not self.log.closed:
                self.log.flush()
            text = self.log_path.read_text().strip().splitlines()
            return "\n".join(text[-lines:]) or "(no output)"
        return "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            self.log.close()


class Profiler:
    """py-spy attached to a Python server for the measured part of a scenario."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        exe = shutil.which("py-spy")
        if exe is None:
            print("  (py-spy not found: pip install py-spy)", file=sys.stderr)
            return
        argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
        self.proc = subprocess.Popen(
            [*argv, "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> Path | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        return self.out if self.out.exists() else None
