"""The table, the targets and the notes of a run, from the runs' figures (medians)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .comms import SCENARIOS as COMMS_SCENARIOS
from .servers import ADMIN, HOSTED_SERVERS, SERVERS, VARIANTS, Settings


@dataclass(frozen=True)
class Target:
    """A goal for ``subject / ref`` of one figure (median over the runs)."""

    text: str
    scenario: str
    path: tuple[str, ...]
    ref: str
    """The reference server; empty: ``goal`` is the figure itself, not a ratio."""
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


def _vs_node(text: str, scenario: str, key: str, goal: float, higher: bool = True) -> Target:
    return Target(text, scenario, (key,), "node", goal, higher)


PEERS = Comparison(
    servers=SERVERS,
    scenarios=("connect", "echo", "fanout", "poll-echo", "paced", "cluster", "scale"),
    subject="jupyter_rt",
    references=(
        ("standalone", "rt/alone"),
        ("node", "rt/node"),
        ("python-socketio", "rt/pysio"),
    ),
    targets=(
        _vs_node("echo acks/s >= 1.0x node", "echo", "acks_per_s", 1.0),
        _vs_node("fanout deliveries/s >= 1.3x node", "fanout", "deliveries_per_s", 1.3),
        _vs_node(
            "fanout server us/delivery <= 0.75x node", "fanout", "us_per_delivery", 0.75, False
        ),
        _vs_node("connects/s >= 1.0x node", "connect", "connects_per_s", 1.0),
        _vs_node("RSS per idle connection <= 0.5x node", "connect", "rss_per_conn_kib", 0.5, False),
        _vs_node("long-polling echo acks/s >= 1.0x node", "poll-echo", "acks_per_s", 1.0),
        Target("paced fanout p99 <= node", "paced", ("latency", "p99_ms"), "node", 1.0, False),
        Target(
            "echo acks/s >= 3x python-socketio", "echo", ("acks_per_s",), "python-socketio", 3.0
        ),
        *(
            Target(
                f"{scenario} {unit} per server CPU-s with the Admin UI >= 0.85x without",
                scenario,
                (f"{unit}_per_cpu_s",),
                "standalone",
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

COMMS = Comparison(
    servers=("jupyter_rt", "comm"),
    scenarios=COMMS_SCENARIOS,
    subject="jupyter_rt",
    references=(("comm", "rt/comm"),),
    targets=tuple(
        target
        for n in (1, 20)
        for target in (
            Target(
                f"{n} receiver(s): messages/s >= 3x the comm's",
                f"comms-{n}",
                ("messages_per_s",),
                "comm",
                3.0,
            ),
            Target(
                f"{n} receiver(s): p99 <= 0.5x the comm's",
                f"comms-{n}",
                ("latency", "p99_ms"),
                "comm",
                0.5,
                False,
            ),
            Target(
                f"{n} receiver(s): page -> kernel while busy < 50 ms",
                f"comms-{n}",
                ("busy_ms",),
                "",
                50.0,
                False,
            ),
        )
    ),
)
"""Issue 13's comms targets: a kernel's messages to pages, jupyter_rt vs a comm."""

COMPARISONS = {"peers": PEERS, "hosted": HOSTED, "comms": COMMS}

# (label, scenario, key path, higher is better, format)
Figure = tuple[str, str, tuple[str, ...], bool, str]

_MAIN: list[Figure] = [
    ("connect: connects/s", "connect", ("connects_per_s",), True, "{:,.0f}"),
    ("connect: server us per connect", "connect", ("us_per_connect",), False, "{:,.0f}"),
    ("connect: RSS KiB per idle conn", "connect", ("rss_per_conn_kib",), False, "{:,.1f}"),
    ("connect: server CPU", "connect", ("server_cpu",), False, "{:.0%}"),
    ("echo: acks/s", "echo", ("acks_per_s",), True, "{:,.0f}"),
    ("echo: p50 ms", "echo", ("latency", "p50_ms"), False, "{:,.2f}"),
    ("echo: p99 ms", "echo", ("latency", "p99_ms"), False, "{:,.2f}"),
    ("echo: server us per ack", "echo", ("us_per_ack",), False, "{:,.1f}"),
    ("echo: server CPU", "echo", ("server_cpu",), False, "{:.0%}"),
    ("echo: load generator CPU", "echo", ("load_proc_cpu",), False, "{:.0%}"),
    ("fanout: deliveries/s", "fanout", ("deliveries_per_s",), True, "{:,.0f}"),
    ("fanout: p50 ms", "fanout", ("latency", "p50_ms"), False, "{:,.1f}"),
    ("fanout: p99 ms", "fanout", ("latency", "p99_ms"), False, "{:,.1f}"),
    ("fanout: server us per delivery", "fanout", ("us_per_delivery",), False, "{:,.2f}"),
    ("fanout: server CPU", "fanout", ("server_cpu",), False, "{:.0%}"),
    ("fanout: load generator CPU", "fanout", ("load_proc_cpu",), False, "{:.0%}"),
    ("poll-echo: acks/s", "poll-echo", ("acks_per_s",), True, "{:,.0f}"),
    ("poll-echo: p99 ms", "poll-echo", ("latency", "p99_ms"), False, "{:,.1f}"),
    ("poll-echo: server us per ack", "poll-echo", ("us_per_ack",), False, "{:,.0f}"),
    ("paced: p50 ms", "paced", ("latency", "p50_ms"), False, "{:,.2f}"),
    ("paced: p99 ms", "paced", ("latency", "p99_ms"), False, "{:,.2f}"),
    ("paced: server CPU", "paced", ("server_cpu",), False, "{:.0%}"),
    ("cluster: deliveries/s", "cluster", ("deliveries_per_s",), True, "{:,.0f}"),
    ("cluster: p99 ms", "cluster", ("latency", "p99_ms"), False, "{:,.1f}"),
    ("cluster: server us per delivery", "cluster", ("us_per_delivery",), False, "{:,.2f}"),
    ("cluster: Redis CPU", "cluster", ("redis_cpu",), False, "{:.0%}"),
    *(
        row
        for n in (1, 20)
        for row in (
            (f"comms {n}: messages/s", f"comms-{n}", ("messages_per_s",), True, "{:,.0f}"),
            (f"comms {n}: p50 ms", f"comms-{n}", ("latency", "p50_ms"), False, "{:,.1f}"),
            (f"comms {n}: p99 ms", f"comms-{n}", ("latency", "p99_ms"), False, "{:,.1f}"),
            (f"comms {n}: share received", f"comms-{n}", ("received_share",), True, "{:.0%}"),
            (
                f"comms {n}: page -> kernel while busy ms",
                f"comms-{n}",
                ("busy_ms",),
                False,
                "{:,.1f}",
            ),
        )
    ),
]


def figures(settings: Settings) -> list[Figure]:
    """The rows of the table: the main scenarios, then the scaling ones."""
    rows = list(_MAIN)
    for n in settings.scale_sizes:
        rows += [
            (f"scale {n}: echo acks/s", f"scale-echo-{n}", ("acks_per_s",), True, "{:,.0f}"),
            (f"scale {n}: echo p99 ms", f"scale-echo-{n}", ("latency", "p99_ms"), False, "{:,.1f}"),
            (
                f"scale {n}: fanout deliveries/s",
                f"scale-fanout-{n}",
                ("deliveries_per_s",),
                True,
                "{:,.0f}",
            ),
            (
                f"scale {n}: fanout p99 ms",
                f"scale-fanout-{n}",
                ("latency", "p99_ms"),
                False,
                "{:,.1f}",
            ),
            (
                f"scale {n}: server us per broadcast",
                f"scale-fanout-{n}",
                ("us_per_broadcast",),
                False,
                "{:,.0f}",
            ),
        ]
    big = max(settings.scale_sizes)
    rows += [
        (
            f"rooms: 1 of {settings.rooms} rooms ({big} clients): broadcasts/s",
            "rooms",
            ("broadcasts_per_s",),
            True,
            "{:,.0f}",
        ),
        ("rooms: server us per broadcast", "rooms", ("us_per_broadcast",), False, "{:,.0f}"),
        ("rooms: members per room", "rooms", ("room_members",), True, "{:,.0f}"),
    ]
    return rows


def derived(run: dict[str, Any]) -> dict[str, Any]:
    """A run's figures plus throughput per second of server CPU and server CPU µs per unit
    (robust to a busy machine or a load-generator-bound run)."""
    out = dict(run)
    if run.get("expected"):
        out["received_share"] = run.get("received", 0) / run["expected"]
    cpu = run.get("server_cpu")
    for key, per_cpu, us in (
        ("connects_per_s", "connects_per_cpu_s", "us_per_connect"),
        ("acks_per_s", "acks_per_cpu_s", "us_per_ack"),
        ("deliveries_per_s", "deliveries_per_cpu_s", "us_per_delivery"),
        ("broadcasts_per_s", "broadcasts_per_cpu_s", "us_per_broadcast"),
    ):
        rate = run.get(key)
        if isinstance(rate, (int, float)) and isinstance(cpu, (int, float)) and cpu > 0 < rate:
            out[per_cpu] = rate / cpu
            out[us] = cpu / rate * 1e6
    return out


def figure(
    results: dict[str, dict[str, Any]], server: str, scenario: str, path: tuple[str, ...]
) -> float | None:
    """The median over the repeated runs of one figure (runs that failed are left out)."""
    values = []
    for run in results.get(server, {}).get(scenario, {}).get("runs", []):
        value: Any = derived(run)
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not run.get("error") and isinstance(value, (int, float)):
            values.append(float(value))
    return statistics.median(values) if values else None


def build_table(
    results: dict[str, dict[str, Any]],
    servers: list[str],
    comparison: Comparison,
    settings: Settings,
) -> list[dict[str, Any]]:
    rows = []
    for label, scenario, path, higher, fmt in figures(settings):
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
        f"ratios are {comparison.subject} / reference; memory, latency, us and CPU: lower is better"
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
        base = figure(results, target.ref, target.scenario, target.path) if target.ref else 1.0
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
    load = max(r.get("load_cpu", 0), r.get("load_proc_cpu", 0))
    if r.get("load_bound") or load > 0.9:
        notes.append(
            f"LOAD-GENERATOR-BOUND: the load generator used {load:.0%} of its core, the"
            " figure may be capped by it (compare server us per unit)"
        )
    if r.get("other_cpu", 0) > 0.25:
        notes.append(f"{r['other_cpu']:.0%} of a core went to other work (kernel, other processes)")
    if r.get("websocket_extensions"):
        notes.append(f"server accepted WebSocket extension {r['websocket_extensions']!r}")
    if r.get("profile"):
        notes.append(f"profiled with py-spy (figures perturbed): {r['profile']}")
    return notes


def noise(results: dict[str, dict[str, Any]], settings: Settings) -> list[str]:
    """The machine's noise: the spread of each headline figure over the repeats, and the
    other work seen on the cores."""
    out = []
    for label, scenario, path, _, _ in figures(settings)[:17]:
        if path[-1] not in ("acks_per_s", "deliveries_per_s", "connects_per_s"):
            continue
        for server, scenarios in results.items():
            runs = [r for r in scenarios.get(scenario, {}).get("runs", []) if not r.get("error")]
            values = [float(r[path[0]]) for r in runs if isinstance(r.get(path[0]), (int, float))]
            if len(values) >= 2 and statistics.median(values) > 0:
                spread = (max(values) - min(values)) / statistics.median(values)
                out.append(f"{label} {server}: runs spread {spread:.0%} of the median")
    others = [
        float(r["other_cpu"])
        for scenarios in results.values()
        for entry in scenarios.values()
        for r in entry["runs"]
        if isinstance(r.get("other_cpu"), (int, float))
    ]
    if others:
        out.append(
            f"other work on the cores while measuring: median {statistics.median(others):.0%},"
            f" max {max(others):.0%} of a core"
        )
    return out


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
