"""The ``cluster`` scenario: fanout across two server processes sharing one Redis.

    python bench/run.py --scenarios cluster            # standalone, node, python-socketio
    python bench/run.py --scenarios cluster --quick

For each server kind, a fresh ``redis-server`` (no persistence, loopback) and two servers of
that kind on it: jupyter_rt with :class:`jupyter_rt.adapters.redis.RedisAdapter`, Node
``socket.io`` 4.8 with ``@socket.io/redis-adapter`` (``createAdapter``), python-socketio with
``AsyncRedisManager``. The load generator (``load.mjs --scenario fanout --url A --url2 B``) puts
every other client on server B; the controller, on A, asks A for broadcasts to the room, so each
broadcast reaches half the room locally and the other half through Redis. Both servers are pinned
to the server core, the load generator to the load core; Redis is not pinned. ``server CPU`` is
the two servers' CPU time together, Redis's is reported apart (``redis_cpu``).

Needs ``redis-server`` and, for Node, ``@socket.io/redis-adapter`` and ``redis``: from
``bench/node_modules`` or ``tests/node/node_modules`` (``dev.sh`` installs both).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import BENCH, REPO, RESULTS
from .cpu import core_busy_seconds, cpu_seconds
from .servers import ServerProcess

CLUSTER_SERVERS = ("standalone", "node", "python-socketio")
"""The servers with a cluster variant (jupyter_rt in Jupyter on Redis: not measured yet)."""
NODE_PACKAGES = ("@socket.io/redis-adapter", "redis")

if TYPE_CHECKING:
    from .servers import Pinning, Settings


def cluster_command(name: str, port: int, redis_url: str, prefix: str) -> list[str]:
    servers = BENCH / "servers"
    args = [str(port), redis_url, prefix]
    if name == "standalone":
        return [sys.executable, str(servers / "cluster_rt_server.py"), *args]
    if name == "node":
        return ["node", str(servers / "cluster_node_server.cjs"), *args]
    if name == "python-socketio":
        return [sys.executable, str(servers / "cluster_pysio_server.py"), *args]
    raise ValueError(name)


def node_path() -> str:
    """``NODE_PATH`` for the Node cluster server (CommonJS resolves the adapter through it)."""
    paths = [str(BENCH / "node_modules"), str(REPO / "tests" / "node" / "node_modules")]
    if os.environ.get("NODE_PATH"):
        paths.append(os.environ["NODE_PATH"])
    return os.pathsep.join(paths)


def missing(name: str) -> str | None:
    """Why the cluster scenario cannot run for server ``name`` here, or ``None``."""
    if shutil.which("redis-server") is None:
        return "redis-server not found (apt-get install redis-server)"
    if name not in CLUSTER_SERVERS:
        return f"no cluster variant of {name}"
    if name == "node":
        for package in NODE_PACKAGES:
            roots = node_path().split(os.pathsep)
            if not any((Path(root) / package / "package.json").is_file() for root in roots):
                return f"Node package {package} missing (jlpm install in tests/node)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A throwaway redis-server on a free loopback port."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start (see {log_path})")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

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


def start_cluster_server(
    name: str, index: int, redis_url: str, prefix: str, pinning: Pinning
) -> Any:
    """One cluster server, as a :class:`ServerProcess` (its ``READY <port>`` line waited for)."""
    return ServerProcess(
        name,
        pinning,
        RESULTS / f"server-{name}-cluster-{'ab'[index]}.log",
        cluster_command(name, 0, redis_url, prefix),
        env={"NODE_PATH": node_path()},
    )


def run_cluster(name: str, settings: Settings, pinning: Pinning) -> dict[str, Any]:
    """Start Redis and two ``name`` servers, run the split fanout, stop everything."""
    reason = missing(name)
    if reason is not None:
        return {"error": f"cluster scenario unavailable: {reason}"}
    try:
        redis = RedisProcess(RESULTS / f"redis-{name}.log")
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    servers: list[Any] = []
    try:
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        for index in range(2):
            servers.append(start_cluster_server(name, index, redis.url, prefix, pinning))
        return measure(servers, redis, settings, pinning)
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    finally:
        for server in servers:
            server.stop()
        redis.stop()


def measure(
    servers: list[Any], redis: RedisProcess, settings: Settings, pinning: Pinning
) -> dict[str, Any]:
    from .scenarios import load_command
    from .servers import start_pinned

    a, b = servers
    cmd = load_command("fanout", a, settings, pinning, clients=settings.cluster_clients)
    cmd += ["--url2", b.url]
    load = start_pinned(cmd, pinning, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=BENCH)
    assert load.stdin is not None and load.stdout is not None
    pids = [s.pid for s in servers]
    samples: dict[str, Any] = {}
    result: dict[str, Any] = {"error": "load generator ended without a result"}
    mark: tuple[float, float, float, float, dict[str, float]] | None = None
    for raw in load.stdout:
        line = raw.strip()
        if line.startswith("@sync "):
            load.stdin.write("\n")
            load.stdin.flush()
        elif line == "@mark start":
            mark = (
                time.monotonic(),
                sum(cpu_seconds(p) for p in pids),
                cpu_seconds(redis.proc.pid),
                cpu_seconds(load.pid),
                core_busy_seconds(),
            )
        elif line == "@mark end" and mark is not None:
            wall = time.monotonic() - mark[0]
            server_cpu = (sum(cpu_seconds(p) for p in pids) - mark[1]) / wall
            redis_cpu = (cpu_seconds(redis.proc.pid) - mark[2]) / wall
            load_cpu = (cpu_seconds(load.pid) - mark[3]) / wall
            busy = core_busy_seconds()
            used = sum(busy[c] - mark[4].get(c, 0.0) for c in busy) / wall
            samples["server_cpu"] = round(server_cpu, 3)
            samples["redis_cpu"] = round(redis_cpu, 3)
            samples["other_cpu"] = round(max(0.0, used - server_cpu - load_cpu - redis_cpu), 3)
        elif line.startswith("@result "):
            result = json.loads(line[len("@result ") :])
        elif line:
            print(f"    load: {line}", file=sys.stderr)
    load.wait(30)
    result.update(samples)
    result["scenario"] = "cluster"
    for server in servers:
        if server.proc.poll() is not None:
            result.setdefault(
                "error", f"server exited with {server.proc.returncode}: {server.tail_log()}"
            )
    return result
