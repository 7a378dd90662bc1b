"""One scenario against one fresh server: the load generator (``load.mjs``) and the samples of
the server's processes (CPU time, memory) at the generator's marks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from . import BENCH, RESULTS
from .cpu import core_busy_seconds, cpu_seconds, rss_kib, tree_cpu_seconds, tree_cpu_since
from .servers import PYTHON_SERVERS, Pinning, Profiler, Settings, open_server, start_pinned

LOAD_BOUND = 0.9
"""A load generator above this share of its core may be what limits the figure."""
SCALE_SERVERS = ("jupyter_rt", "node")
"""The servers the ``scale`` scenarios run for (the plot compares them)."""


@dataclass(frozen=True)
class LoadSpec:
    """How a scenario drives ``load.mjs``."""

    mode: str  # load.mjs --scenario
    clients: int
    extra: tuple[str, ...] = ()
    duration: float | None = None


def scale_scenarios(settings: Settings) -> list[str]:
    """The ``scale`` group: echo and fanout at each size, and a broadcast to 1 of N rooms."""
    names = [f"scale-{kind}-{n}" for n in settings.scale_sizes for kind in ("echo", "fanout")]
    return [*names, "rooms"]


def load_spec(scenario: str, settings: Settings) -> LoadSpec:
    """The load of ``scenario`` (not ``cluster``, which has two servers)."""
    if scenario == "connect":
        return LoadSpec("connect", settings.connect_clients)
    if scenario == "echo":
        return LoadSpec("echo", settings.echo_clients)
    if scenario == "fanout":
        return LoadSpec("fanout", settings.fanout_clients)
    if scenario == "poll-echo":
        return LoadSpec("echo", settings.poll_clients, ("--transport", "polling"))
    if scenario == "paced":
        # Long enough for a p99 over a few tens of broadcasts.
        rate = ("--rate", str(settings.paced_rate))
        return LoadSpec("fanout", settings.paced_clients, rate, settings.duration * 2)
    if scenario == "rooms":
        rooms = ("--rooms", str(settings.rooms))
        return LoadSpec("fanout", max(settings.scale_sizes), rooms)
    if scenario.startswith("scale-"):
        _, kind, size = scenario.split("-")
        return LoadSpec(kind, int(size))
    raise ValueError(scenario)


def load_command(
    scenario: str,
    server: Any,
    settings: Settings,
    pinning: Pinning,
    clients: int | None = None,
) -> list[str]:
    spec = load_spec(scenario, settings)
    duration = spec.duration or settings.duration
    cmd = ["node", str(BENCH / "load.mjs"), "--url", server.url]
    cmd += ["--namespace", server.namespace, "--scenario", spec.mode]
    cmd += ["--clients", str(clients or spec.clients), "--duration", str(duration)]
    cmd += ["--warmup", str(settings.warmup), "--settle", str(settings.settle)]
    cmd += ["--window", str(settings.window), "--payload", str(settings.payload)]
    cmd += ["--concurrency", str(settings.concurrency), "--timeout", str(settings.timeout)]
    cmd += ["--sync", *spec.extra]
    if not settings.deflate:
        cmd.append("--no-deflate")
    return pinning.wrap(cmd, pinning.load_core)


def run_one(
    name: str, scenario: str, settings: Settings, pinning: Pinning, profile: bool
) -> dict[str, Any]:
    """Starts a fresh server, runs one scenario against it and stops it."""
    if scenario == "cluster":
        from .cluster import run_cluster

        return run_cluster(name, settings, pinning)
    if scenario.startswith("comms-"):
        from .comms import run_comms

        return run_comms(name, int(scenario.split("-")[1]), settings, pinning)
    try:
        server = open_server(name, pinning)
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    try:
        return run_scenario(server, scenario, settings, pinning, profile)
    finally:
        server.stop()


def run_scenario(
    server: Any, scenario: str, settings: Settings, pinning: Pinning, profile: bool
) -> dict[str, Any]:
    """Runs one load generator against a running server, sampling the server's processes (and
    their children: a Jupyter server's kernel) at its marks."""
    cmd = load_command(scenario, server, settings, pinning)
    load = start_pinned(
        cmd,
        pinning,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=BENCH,
        env=dict(os.environ, **server.load_env),
    )
    assert load.stdin is not None and load.stdout is not None
    samples: dict[str, Any] = {}
    result: dict[str, Any] = {"error": "load generator ended without a result"}
    profilers: list[Profiler] = []
    pids: dict[str, int] = server.pids
    mark: tuple[float, dict[str, dict[int, float]], float, dict[str, float]] | None = None
    for raw in load.stdout:
        line = raw.strip()
        if line.startswith("@sync "):
            name = line.split(" ", 1)[1]
            samples[f"rss_{name}_kib"] = rss_kib(server.pid)
            load.stdin.write("\n")
            load.stdin.flush()
        elif line == "@mark start":
            mark = (
                time.monotonic(),
                {role: tree_cpu_seconds(pid, set(pids.values())) for role, pid in pids.items()},
                cpu_seconds(load.pid),
                core_busy_seconds(),
            )
            if profile and server.name in PYTHON_SERVERS:
                for role, pid in pids.items():
                    out = RESULTS / f"profile-{server.name}-{scenario}-{role}.txt"
                    profilers.append(Profiler(pid, out))
        elif line == "@mark end":
            if mark is not None:
                samples.update(cpu_samples(mark, pids, load.pid))
            if profilers:
                written = [str(path) for path in (p.stop() for p in profilers) if path]
                samples["profile"] = ", ".join(written)
                profilers = []
        elif line.startswith("@result "):
            result = json.loads(line[len("@result ") :])
        elif line:
            print(f"    load: {line}", file=sys.stderr)
    load.wait(30)
    for profiler in profilers:
        profiler.stop()
    result.update(samples)
    if "rss_baseline_kib" in samples and "rss_connected_kib" in samples and result.get("connected"):
        delta = samples["rss_connected_kib"] - samples["rss_baseline_kib"]
        result["rss_per_conn_kib"] = round(delta / result["connected"], 2)
    if server.proc.poll() is not None:
        result.setdefault(
            "error", f"server exited with {server.proc.returncode}: {server.tail_log()}"
        )
    return result


def cpu_samples(
    mark: tuple[float, dict[str, dict[int, float]], float, dict[str, float]],
    pids: dict[str, int],
    load_pid: int,
) -> dict[str, Any]:
    """Server CPU (each role's process tree), the load generator's, and other work's, as
    shares of a core over the measured interval."""
    started, server_before, load_before, busy_before = mark
    wall = time.monotonic() - started
    by_process = {
        role: tree_cpu_since(pid, server_before[role], set(pids.values())) / wall
        for role, pid in pids.items()
    }
    server_cpu = sum(by_process.values())
    load_cpu = (cpu_seconds(load_pid) - load_before) / wall
    busy = core_busy_seconds()
    core_use = {c: (busy[c] - busy_before.get(c, 0.0)) / wall for c in busy}
    out: dict[str, Any] = {"server_cpu": round(server_cpu, 3)}
    if len(by_process) > 1:
        out["cpu_by_process"] = {r: round(c, 3) for r, c in by_process.items()}
    # Measured from /proc like the server's (the generator's own figure is kept as load_cpu).
    out["load_proc_cpu"] = round(load_cpu, 3)
    out["load_bound"] = load_cpu > LOAD_BOUND
    # Time the cores spent on anything but the server and the load generator: other
    # processes on a shared machine, plus the kernel's loopback work.
    out["other_cpu"] = round(max(0.0, sum(core_use.values()) - server_cpu - load_cpu), 3)
    return out
