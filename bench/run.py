"""Benchmark jupyter_rt against Node's socket.io and python-socketio, side by side.

    python bench/run.py            # connect 5000, fanout 1000, echo 50; 3 runs each (~5 min)
    python bench/run.py --quick    # smoke run with small numbers (a few seconds per server)
    python bench/run.py --scenarios cluster   # fanout across two servers sharing Redis
    python bench/run.py hosted     # a kernel-hosted namespace vs. the same handlers in Jupyter

Each server is started alone, pinned to one core, once per scenario; the load generator
(`load.mjs`, Node + `ws`) is pinned to the other core. Results are printed as a table with the
ratios jupyter_rt/node and jupyter_rt/python-socketio (``hosted``: hosted/in-process) and
written to bench/results/latest.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SERVERS = ("jupyter_rt", "node", "python-socketio")
"""The servers of a default run."""
ADMIN = "jupyter_rt+admin"
"""jupyter_rt with the Admin UI, production mode: ``--servers jupyter_rt,jupyter_rt+admin``."""
VARIANTS = ("jupyter_rt-recovery", ADMIN)
"""Servers run only when named: jupyter_rt with connection state recovery on, with the Admin UI."""
SCENARIOS = ("connect", "echo", "fanout", "cluster")
HOSTED_SERVERS = ("in-process", "hosted")  # bench/hosted.py: both in a real Jupyter server
PYTHON_SERVERS = {"jupyter_rt", "jupyter_rt-recovery", "python-socketio", ADMIN, *HOSTED_SERVERS}


@dataclass(frozen=True)
class Target:
    """A goal for ``subject / ref`` of one figure (median over the runs)."""

    text: str
    scenario: str
    path: tuple[str, ...]
    ref: str
    goal: float
    higher: bool = True
    subject: str | None = None
    """The server measured, when not the comparison's subject."""


@dataclass(frozen=True)
class Comparison:
    """What one command compares: every ratio is ``subject`` over each reference."""

    servers: tuple[str, ...]
    scenarios: tuple[str, ...]
    subject: str
    references: tuple[tuple[str, str], ...]  # (server, label of the ratio column)
    targets: tuple[Target, ...]
    variants: tuple[str, ...] = ()
    """Servers run only when named with ``--servers``."""


PEERS = Comparison(
    servers=SERVERS,
    scenarios=SCENARIOS,
    subject="jupyter_rt",
    references=(("node", "rt/node"), ("python-socketio", "rt/pysio")),
    targets=(
        Target("fanout deliveries/s >= node", "fanout", ("deliveries_per_s",), "node", 1.0),
        Target(
            "fanout deliveries per server CPU-s >= node",
            "fanout",
            ("deliveries_per_cpu_s",),
            "node",
            1.0,
        ),
        Target(
            "echo acks/s >= 3x python-socketio", "echo", ("acks_per_s",), "python-socketio", 3.0
        ),
        Target(
            "echo acks per server CPU-s >= 3x python-socketio",
            "echo",
            ("acks_per_cpu_s",),
            "python-socketio",
            3.0,
        ),
        Target(
            "RSS per idle connection <= node",
            "connect",
            ("rss_per_conn_kib",),
            "node",
            1.0,
            higher=False,
        ),
        *(
            Target(
                f"{scenario} {unit} per server CPU-s with the Admin UI >= 0.85x without",
                scenario,
                (f"{unit}_per_cpu_s",),
                "jupyter_rt",
                0.85,
                subject=ADMIN,
            )
            for scenario, unit in (("echo", "acks"), ("fanout", "deliveries"))
        ),
    ),
    variants=VARIANTS,
)

HOSTED = Comparison(
    servers=HOSTED_SERVERS,
    scenarios=("echo", "fanout"),
    subject="hosted",
    references=(("in-process", "hosted/in-process"),),
    targets=tuple(
        Target(f"hosted {what} >= {goal}x in-process", scenario, (key,), "in-process", goal)
        for what, scenario, key, goal in (
            ("fanout deliveries/s", "fanout", "deliveries_per_s", 0.8),
            ("fanout deliveries per server CPU-s", "fanout", "deliveries_per_cpu_s", 0.8),
            ("echo acks/s", "echo", "acks_per_s", 0.3),
            ("echo acks per server CPU-s", "echo", "acks_per_cpu_s", 0.3),
        )
    ),
)
"""Issue 10's targets; the hosted side's server CPU is the Jupyter server's plus the kernel's."""


COMPARISONS = {"peers": PEERS, "hosted": HOSTED}


def server_command(name: str) -> list[str]:
    if name == "jupyter_rt":
        return [sys.executable, str(BENCH / "servers" / "jupyter_rt_server.py"), "0"]
    if name == "jupyter_rt-recovery":
        return [*server_command("jupyter_rt"), "--recovery"]
    if name == ADMIN:
        return [*server_command("jupyter_rt"), "--admin", "production"]
    if name == "node":
        return ["node", str(BENCH / "servers" / "node_server.mjs"), "0"]
    if name == "python-socketio":
        return [sys.executable, str(BENCH / "servers" / "pysio_server.py"), "0"]
    raise ValueError(name)


@dataclass
class Settings:
    connect_clients: int = 5000
    echo_clients: int = 50
    fanout_clients: int = 1000
    cluster_clients: int = 1000
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


# ---------------------------------------------------------------------------------------------
# /proc readings


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def core_busy_seconds() -> dict[str, float]:
    """Busy time per core from /proc/stat (all processes on the machine, ours and others')."""
    busy: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                ticks = [int(v) for v in values[:8]]
                # user nice system idle iowait irq softirq steal: all but idle and iowait
                busy[name[3:]] = (sum(ticks) - ticks[3] - ticks[4]) / tick
    return busy


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


# ---------------------------------------------------------------------------------------------
# Processes


class ServerProcess:
    """One server under test, pinned to its core, started and stopped by this harness."""

    def __init__(self, name: str, pinning: Pinning, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.log: IO[str] = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        cmd = pinning.wrap(server_command(name), pinning.server_core)
        # The jupyter_rt under test is the one in this checkout, installed or not.
        path = os.pathsep.join(p for p in (str(BENCH.parent), os.environ.get("PYTHONPATH")) if p)
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)
        self.proc = start_pinned(
            cmd,
            pinning,
            stdout=subprocess.PIPE,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            cwd=BENCH,
            env=env,
        )
        self.port = self._wait_ready(30.0)

    namespace = "/"
    load_env: dict[str, str] = {}  # noqa: RUF012 - read only

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
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                "200",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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


def load_command(scenario: str, server: Any, settings: Settings, pinning: Pinning) -> list[str]:
    clients = {
        "connect": settings.connect_clients,
        "echo": settings.echo_clients,
        "fanout": settings.fanout_clients,
    }[scenario]
    cmd = [
        "node",
        str(BENCH / "load.mjs"),
        "--url",
        server.url,
        "--namespace",
        server.namespace,
        "--scenario",
        scenario,
        "--clients",
        str(clients),
        "--duration",
        str(settings.duration),
        "--warmup",
        str(settings.warmup),
        "--settle",
        str(settings.settle),
        "--window",
        str(settings.window),
        "--payload",
        str(settings.payload),
        "--concurrency",
        str(settings.concurrency),
        "--timeout",
        str(settings.timeout),
        "--sync",
    ]
    if not settings.deflate:
        cmd.append("--no-deflate")
    return pinning.wrap(cmd, pinning.load_core)


def run_scenario(
    server: Any,
    scenario: str,
    settings: Settings,
    pinning: Pinning,
    profile: bool,
) -> dict[str, Any]:
    """Runs one load generator against a running server (a :class:`ServerProcess` or a
    ``hosted.JupyterBench``), sampling the server's processes at its marks."""
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
    mark: tuple[float, dict[str, float], float, dict[str, float]] | None = None
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
                {role: cpu_seconds(pid) for role, pid in pids.items()},
                cpu_seconds(load.pid),
                core_busy_seconds(),
            )
            if profile and server.name in PYTHON_SERVERS:
                for role, pid in pids.items():
                    out = RESULTS / f"profile-{server.name}-{scenario}-{role}.txt"
                    profilers.append(Profiler(pid, out))
        elif line == "@mark end":
            if mark is not None:
                wall = time.monotonic() - mark[0]
                by_process = {
                    role: (cpu_seconds(pid) - mark[1][role]) / wall for role, pid in pids.items()
                }
                server_cpu = sum(by_process.values())
                load_cpu = (cpu_seconds(load.pid) - mark[2]) / wall
                busy = core_busy_seconds()
                core_use = {c: (busy[c] - mark[3].get(c, 0.0)) / wall for c in busy}
                samples["server_cpu"] = round(server_cpu, 3)
                if len(by_process) > 1:
                    samples["cpu_by_process"] = {r: round(c, 3) for r, c in by_process.items()}
                # Time the two cores spent on anything but the server and the load generator:
                # other processes on a shared machine, plus the kernel's loopback work.
                samples["other_cpu"] = round(
                    max(0.0, sum(core_use.values()) - server_cpu - load_cpu), 3
                )
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


# ---------------------------------------------------------------------------------------------
# Report

# (label, scenario, key path, higher is better, format)
FIGURES: list[tuple[str, str, tuple[str, ...], bool, str]] = [
    ("connect: connects/s", "connect", ("connects_per_s",), True, "{:,.0f}"),
    ("connect: connects per server CPU-s", "connect", ("connects_per_cpu_s",), True, "{:,.0f}"),
    ("connect: RSS KiB per idle conn", "connect", ("rss_per_conn_kib",), False, "{:,.1f}"),
    ("connect: server CPU", "connect", ("server_cpu",), False, "{:.0%}"),
    ("echo: acks/s", "echo", ("acks_per_s",), True, "{:,.0f}"),
    ("echo: p50 ms", "echo", ("latency", "p50_ms"), False, "{:,.2f}"),
    ("echo: p99 ms", "echo", ("latency", "p99_ms"), False, "{:,.2f}"),
    ("echo: acks per server CPU-s", "echo", ("acks_per_cpu_s",), True, "{:,.0f}"),
    ("echo: server CPU", "echo", ("server_cpu",), False, "{:.0%}"),
    ("fanout: deliveries/s", "fanout", ("deliveries_per_s",), True, "{:,.0f}"),
    ("fanout: p50 ms", "fanout", ("latency", "p50_ms"), False, "{:,.1f}"),
    ("fanout: p99 ms", "fanout", ("latency", "p99_ms"), False, "{:,.1f}"),
    ("fanout: deliveries per server CPU-s", "fanout", ("deliveries_per_cpu_s",), True, "{:,.0f}"),
    ("fanout: server CPU", "fanout", ("server_cpu",), False, "{:.0%}"),
    ("cluster: deliveries/s", "cluster", ("deliveries_per_s",), True, "{:,.0f}"),
    ("cluster: p50 ms", "cluster", ("latency", "p50_ms"), False, "{:,.1f}"),
    ("cluster: p99 ms", "cluster", ("latency", "p99_ms"), False, "{:,.1f}"),
    (
        "cluster: deliveries per server CPU-s",
        "cluster",
        ("deliveries_per_cpu_s",),
        True,
        "{:,.0f}",
    ),
    ("cluster: 2 servers' CPU", "cluster", ("server_cpu",), False, "{:.0%}"),
    ("cluster: Redis CPU", "cluster", ("redis_cpu",), False, "{:.0%}"),
]


def figure(
    results: dict[str, dict[str, Any]], server: str, scenario: str, path: tuple[str, ...]
) -> float | None:
    """The median over the repeated runs of one figure (runs that failed are left out)."""
    values = []
    for run in results.get(server, {}).get(scenario, {}).get("runs", []):
        value = derived(run).get(path[0]) if len(path) == 1 else run
        if len(path) > 1:
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
        if not run.get("error") and isinstance(value, (int, float)):
            values.append(float(value))
    return statistics.median(values) if values else None


def derived(run: dict[str, Any]) -> dict[str, Any]:
    """A run's figures plus throughput per second of server CPU (robust to a busy machine)."""
    out = dict(run)
    cpu = run.get("server_cpu")
    for key, name in (
        ("connects_per_s", "connects_per_cpu_s"),
        ("acks_per_s", "acks_per_cpu_s"),
        ("deliveries_per_s", "deliveries_per_cpu_s"),
    ):
        if isinstance(run.get(key), (int, float)) and isinstance(cpu, (int, float)) and cpu > 0:
            out[name] = run[key] / cpu
    return out


def build_table(
    results: dict[str, dict[str, Any]], servers: list[str], comparison: Comparison
) -> list[dict[str, Any]]:
    rows = []
    for label, scenario, path, higher, fmt in FIGURES:
        row: dict[str, Any] = {"figure": label, "higher_is_better": higher, "format": fmt}
        for server in servers:
            row[server] = figure(results, server, scenario, path)
        subject = row.get(comparison.subject)
        for ref, name in comparison.references:
            base = row.get(ref)
            row[name] = round(subject / base, 3) if subject is not None and base else None
        if any(row.get(s) is not None for s in servers):
            rows.append(row)
    return rows


def render_table(rows: list[dict[str, Any]], servers: list[str], comparison: Comparison) -> str:
    ratios = [
        name
        for ref, name in comparison.references
        if ref in servers and comparison.subject in servers
    ]
    header = ["figure", *servers, *ratios]
    lines = []
    for row in rows:
        cells = [row["figure"]]
        for server in servers:
            value = row.get(server)
            cells.append("n/a" if value is None else row["format"].format(value))
        for name in ratios:
            value = row.get(name)
            cells.append("n/a" if value is None else f"{value:.2f}x")
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]
    out = []
    for i, cells in enumerate([header, *lines]):
        out.append(
            "  ".join(
                str(c).ljust(w) if j == 0 else str(c).rjust(w)
                for j, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append(
        f"ratios are {comparison.subject} / reference; memory, latency and CPU: lower is better"
    )
    return "\n".join(out)


def check_targets(
    results: dict[str, dict[str, Any]], comparison: Comparison
) -> list[dict[str, Any]]:
    """The comparison's targets, as ratios within this run."""
    targets = []
    for target in comparison.targets:
        measured = target.subject or comparison.subject
        subject = figure(results, measured, target.scenario, target.path)
        base = figure(results, target.ref, target.scenario, target.path)
        if subject is None or not base:
            continue
        value = subject / base
        met = value >= target.goal if target.higher else value <= target.goal
        targets.append({"target": target.text, "ratio": round(value, 3), "met": met})
    return targets


def warnings_for(results: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for server, scenarios in results.items():
        for scenario, entry in scenarios.items():
            runs = entry["runs"]
            for i, r in enumerate(runs):
                where = f"{server}/{scenario}" + (f" run {i + 1}" if len(runs) > 1 else "")
                notes.extend(f"{where}: {text}" for text in run_warnings(r))
    return notes


def run_warnings(r: dict[str, Any]) -> list[str]:
    if r.get("error"):
        return [f"ERROR {r['error'].splitlines()[0][:300]}"]
    notes = []
    if r.get("failures"):
        notes.append(f"{r['failures']} clients failed to connect ({r.get('first_error')})")
    if r.get("lost"):
        notes.append(f"{r['lost']} deliveries lost")
    if r.get("load_cpu", 0) > 0.9:
        notes.append(f"load generator at {r['load_cpu']:.0%} CPU, the figure may be capped by it")
    if r.get("other_cpu", 0) > 0.25:
        notes.append(f"{r['other_cpu']:.0%} of a core went to other work (kernel, other processes)")
    if r.get("websocket_extensions"):
        notes.append(f"server accepted WebSocket extension {r['websocket_extensions']!r}")
    if r.get("profile"):
        notes.append(f"profiled with py-spy (figures perturbed): {r['profile']}")
    return notes


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed ("raw") output."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " " + _location(f) for f in stack.split(";")]
        self_counts[frames[-1]] += count
        for frame in set(frames):
            incl_counts[frame] += count
    if not total:
        return "(no samples)"
    lines = [f"{total} samples", "self%   incl%   function"]
    for frame, count in self_counts.most_common(top):
        lines.append(
            f"{100 * count / total:5.1f}  {100 * incl_counts[frame] / total:6.1f}   {frame}"
        )
    return "\n".join(lines)


def _location(frame: str) -> str:
    if " (" not in frame:
        return ""
    loc = frame.split(" (", 1)[1].rstrip(")")
    file = loc.rpartition(":")[0]
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) >= 2 else file
    return f"({short})"


# ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    info = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": str(os.cpu_count()),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["node"] = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    for pkg in ("node_modules/socket.io/package.json", "node_modules/ws/package.json"):
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((BENCH / pkg).read_text())
            info[meta["name"]] = meta["version"]
    from importlib import metadata

    for dist in ("jupyter_rt", "python-socketio", "python-engineio", "tornado"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[dist] = metadata.version(dist)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=BENCH,
            timeout=10,
        ).stdout.strip()
    return info


def run_one(
    name: str, scenario: str, settings: Settings, pinning: Pinning, profile: bool
) -> dict[str, Any]:
    """Starts a fresh server, runs one scenario against it and stops it."""
    if scenario == "cluster":
        import cluster  # bench/cluster.py: Redis and two servers

        return cluster.run_cluster(name, settings, pinning)
    server: Any
    try:
        if name in HOSTED_SERVERS:
            import hosted  # bench/hosted.py: a Jupyter server, and a kernel for "hosted"

            server = hosted.JupyterBench(name, pinning, RESULTS / f"server-{name}.log")
        else:
            server = ServerProcess(name, pinning, RESULTS / f"server-{name}.log")
    except (RuntimeError, OSError) as exc:
        return {"error": str(exc)}
    try:
        return run_scenario(server, scenario, settings, pinning, profile)
    finally:
        server.stop()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "comparison",
        nargs="?",
        default="peers",
        choices=sorted(COMPARISONS),
        help="peers (default): jupyter_rt vs node and python-socketio; hosted: a kernel-hosted "
        "namespace vs. the same handlers in the Jupyter server",
    )
    parser.add_argument("--quick", action="store_true", help="small numbers, for a smoke run")
    parser.add_argument(
        "--servers",
        default=None,
        help=f"comma list of {', '.join(SERVERS + VARIANTS)} (hosted: {', '.join(HOSTED_SERVERS)})",
    )
    parser.add_argument(
        "--scenarios",
        default=None,
        help=f"comma list of {', '.join(SCENARIOS)} (cluster by default if redis-server exists;"
        " hosted: echo, fanout)",
    )
    parser.add_argument(
        "--connect-clients", type=int, help="clients for the connect scenario (5000)"
    )
    parser.add_argument("--fanout-clients", type=int, help="clients in the fanout room (1000)")
    parser.add_argument(
        "--cluster-clients", type=int, help="clients in the room split over two servers (1000)"
    )
    parser.add_argument("--echo-clients", type=int, help="closed-loop echo clients (50)")
    parser.add_argument("--duration", type=float, help="seconds measured per echo/fanout run (5)")
    parser.add_argument("--window", type=int, help="fanout broadcasts in flight (8)")
    parser.add_argument(
        "--repeat", type=int, help="runs of each scenario per server; medians shown (3, quick 1)"
    )
    parser.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    parser.add_argument("--server-core", default="0", help="core for the server (0)")
    parser.add_argument("--load-core", default="1", help="core for the load generator (1)")
    parser.add_argument(
        "--priority",
        type=int,
        default=0,
        metavar="NICE",
        help="run server and load generator at this nice value, e.g. -10 (root; a shared machine)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the Python servers while measuring"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "latest.json", help="JSON results path"
    )
    args = parser.parse_args(argv)
    comparison = COMPARISONS[args.comparison]
    if args.servers is None:
        args.servers = ",".join(comparison.servers)
    if args.scenarios is None:
        default = [
            s for s in comparison.scenarios if s != "cluster" or shutil.which("redis-server")
        ]
        if "cluster" in comparison.scenarios and "cluster" not in default:
            print("redis-server not found: skipping the cluster scenario", file=sys.stderr)
        args.scenarios = ",".join(default)
    servers = comparison.servers + comparison.variants
    for name, allowed in (("servers", servers), ("scenarios", comparison.scenarios)):
        chosen = [s.strip() for s in getattr(args, name).split(",") if s.strip()]
        unknown = set(chosen) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}: {', '.join(sorted(unknown))}")
        setattr(args, name, chosen)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    comparison = COMPARISONS[args.comparison]
    settings = Settings.quick() if args.quick else Settings()
    for opt, attr in (
        ("connect_clients", "connect_clients"),
        ("fanout_clients", "fanout_clients"),
        ("cluster_clients", "cluster_clients"),
        ("echo_clients", "echo_clients"),
        ("duration", "duration"),
        ("window", "window"),
    ):
        value = getattr(args, opt)
        if value is not None:
            setattr(settings, attr, value)
    settings.deflate = not args.no_deflate
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if shutil.which("node") is None:
        print(
            "node is required (the load generator and the Node reference run on it)",
            file=sys.stderr,
        )
        return 2
    if not (BENCH / "node_modules" / "ws").is_dir():
        print("bench/node_modules is missing: run `jlpm install` in bench/", file=sys.stderr)
        return 2
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    pinning = Pinning(
        args.server_core if pin else None, args.load_core if pin else None, args.priority
    )
    fd_limit = raise_fd_limit()
    if fd_limit < settings.connect_clients + 1000:
        print(
            f"warning: fd limit {fd_limit} is low for {settings.connect_clients} clients",
            file=sys.stderr,
        )
    RESULTS.mkdir(exist_ok=True)

    results: dict[str, dict[str, Any]] = {
        name: {scenario: {"runs": []} for scenario in args.scenarios} for name in args.servers
    }
    started = time.time()
    # Scenario-major and round-robin over the servers, so that a burst of other work on a
    # shared machine falls on every server alike; the table shows medians over the repeats.
    for repeat in range(args.repeat):
        for scenario in args.scenarios:
            for name in args.servers:
                tag = f" (run {repeat + 1}/{args.repeat})" if args.repeat > 1 else ""
                print(f"{name}: {scenario}{tag} ...", file=sys.stderr, flush=True)
                result = run_one(name, scenario, settings, pinning, args.profile and repeat == 0)
                results[name][scenario]["runs"].append(result)
                for text in run_warnings(result):
                    print(f"  {text}", file=sys.stderr, flush=True)

    rows = build_table(results, args.servers, comparison)
    targets = check_targets(results, comparison)
    notes = warnings_for(results)
    print(flush=True)
    print(render_table(rows, args.servers, comparison))
    if targets:
        print()
        for t in targets:
            print(f"target: {t['target']}: {t['ratio']:.2f} {'met' if t['met'] else 'NOT met'}")
    if notes:
        print()
        for note in notes:
            print(f"note: {note}")
    if args.profile:
        for name, scenarios in results.items():
            for scenario, entry in scenarios.items():
                for r in entry["runs"]:
                    for path in filter(None, r.get("profile", "").split(", ")):
                        print(f"\nprofile {name}/{scenario} ({path}):")
                        print(summarize_profile(Path(path)))

    report = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "comparison": args.comparison,
        "quick": args.quick,
        "pinning": {
            "server": pinning.server_core,
            "load": pinning.load_core,
            "priority": pinning.priority,
        },
        "settings": settings.__dict__,
        "versions": versions(),
        "results": results,
        "repeat": args.repeat,
        "table": [{k: v for k, v in row.items() if k != "format"} for row in rows],
        "targets": targets,
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}", flush=True)
    failed = any(
        r.get("error")
        for scenarios in results.values()
        for entry in scenarios.values()
        for r in entry["runs"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
