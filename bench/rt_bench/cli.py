"""``python bench/run.py``: the command line, the run loop, the printed table and the JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import BENCH, RESULTS
from .cluster import CLUSTER_SERVERS
from .plot import write_plot
from .report import (
    COMPARISONS,
    build_table,
    check_targets,
    noise,
    render_table,
    run_warnings,
    summarize_profile,
    warnings_for,
)
from .scenarios import SCALE_SERVERS, run_one, scale_scenarios
from .servers import HOSTED_SERVERS, SERVERS, VARIANTS, Pinning, Settings, raise_fd_limit

USAGE = """Benchmark jupyter_rt inside a real Jupyter server against its standalone mount, Node's
socket.io 4.8 and python-socketio, side by side (see bench/README.md).

    python bench/run.py            # every scenario, 3 fresh runs each, medians
    python bench/run.py --quick    # smoke run with small numbers, 1 run
    python bench/run.py --scenarios echo,fanout --servers jupyter_rt,node
    python bench/run.py hosted     # a kernel-hosted namespace vs. the same handlers in Jupyter
    python bench/run.py comms      # a kernel's messages to pages: jupyter_rt vs a comm
"""


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

    for dist in ("jupyter_rt", "jupyter_server", "python-socketio", "python-engineio", "tornado"):
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "comparison",
        nargs="?",
        default="peers",
        choices=sorted(COMPARISONS),
        help="peers (default): jupyter_rt in Jupyter vs standalone, node and python-socketio; "
        "hosted: a kernel-hosted namespace vs. the same handlers in the Jupyter server; "
        "comms: a kernel's messages to pages through jupyter_rt vs a comm",
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
        help="comma list of connect, echo, fanout, poll-echo, paced, cluster (if redis-server"
        " exists), scale (echo and fanout at each size, 1 of N rooms; jupyter_rt and node);"
        " hosted: echo, fanout",
    )
    for opt, what in (
        ("connect-clients", "clients for the connect scenario (5000)"),
        ("fanout-clients", "clients in the fanout room (1000)"),
        ("cluster-clients", "clients in the room split over two servers (1000)"),
        ("echo-clients", "closed-loop echo clients (50)"),
        ("poll-clients", "long-polling echo clients (50)"),
        ("window", "fanout broadcasts in flight (8)"),
        ("rooms", "rooms of the rooms scenario (1000)"),
    ):
        parser.add_argument(f"--{opt}", type=int, help=what)
    parser.add_argument("--duration", type=float, help="seconds measured per run (5)")
    parser.add_argument("--scale-sizes", help="comma list of client counts (10,100,1000,5000)")
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
    parser.add_argument(
        "--plot", type=Path, default=RESULTS / "scaling.png", help="scaling plot path (PNG)"
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


def make_settings(args: argparse.Namespace) -> Settings:
    settings = Settings.quick() if args.quick else Settings()
    for attr in (
        "connect_clients",
        "fanout_clients",
        "cluster_clients",
        "echo_clients",
        "poll_clients",
        "duration",
        "window",
        "rooms",
    ):
        value = getattr(args, attr)
        if value is not None:
            setattr(settings, attr, value)
    if args.scale_sizes:
        settings.scale_sizes = tuple(int(n) for n in args.scale_sizes.split(","))
    settings.deflate = not args.no_deflate
    return settings


def plan(args: argparse.Namespace, settings: Settings) -> list[tuple[str, str]]:
    """(scenario, server) pairs of one repeat, scenario-major (``scale`` expanded; its
    scenarios only for :data:`SCALE_SERVERS`, ``cluster`` for :data:`CLUSTER_SERVERS`)."""
    pairs = []
    for scenario in args.scenarios:
        if scenario == "scale":
            for each in scale_scenarios(settings):
                pairs += [(each, s) for s in args.servers if s in SCALE_SERVERS]
        elif scenario == "cluster":
            pairs += [(scenario, s) for s in args.servers if s in CLUSTER_SERVERS]
        else:
            pairs += [(scenario, s) for s in args.servers]
    return pairs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    comparison = COMPARISONS[args.comparison]
    settings = make_settings(args)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if shutil.which("node") is None:
        print("node is required (the load generator and Node's server run on it)", file=sys.stderr)
        return 2
    if not (BENCH / "node_modules" / "ws").is_dir():
        print("bench/node_modules is missing: run `jlpm install` in bench/", file=sys.stderr)
        return 2
    pin = not args.no_pin and shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    pinning = Pinning(
        args.server_core if pin else None, args.load_core if pin else None, args.priority
    )
    fd_limit = raise_fd_limit()
    most = max(settings.connect_clients, *settings.scale_sizes)
    if fd_limit < most + 1000:
        print(f"warning: fd limit {fd_limit} is low for {most} clients", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)

    pairs = plan(args, settings)
    results: dict[str, dict[str, Any]] = {name: {} for name in args.servers}
    started = time.time()
    # Scenario-major and round-robin over the servers, so that a burst of other work on a
    # shared machine falls on every server alike; the table shows medians over the repeats.
    for repeat in range(args.repeat):
        for scenario, name in pairs:
            tag = f" (run {repeat + 1}/{args.repeat})" if args.repeat > 1 else ""
            print(f"{name}: {scenario}{tag} ...", file=sys.stderr, flush=True)
            result = run_one(name, scenario, settings, pinning, args.profile and repeat == 0)
            results[name].setdefault(scenario, {"runs": []})["runs"].append(result)
            for text in run_warnings(result):
                print(f"  {text}", file=sys.stderr, flush=True)

    rows = build_table(results, args.servers, comparison, settings)
    targets = check_targets(results, comparison)
    notes = warnings_for(results)
    print(flush=True)
    print(render_table(rows, args.servers, comparison))
    if targets:
        print()
        for t in targets:
            print(f"target: {t['target']}: {t['ratio']:.2f} {'met' if t['met'] else 'NOT met'}")
    spread = noise(results, settings)
    if spread:
        print()
        for line in spread:
            print(f"noise: {line}")
    if notes:
        print()
        for note in notes:
            print(f"note: {note}")
    plot = write_plot(results, args.servers, settings, args.plot)
    if plot is not None:
        print(f"\nwrote {plot}")
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
        "noise": spread,
        "notes": notes,
        "plot": str(plot) if plot else None,
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
