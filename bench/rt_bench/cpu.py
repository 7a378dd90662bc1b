"""CPU time and memory of processes, read from ``/proc`` (Linux)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection

TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB (0 if it has none)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (``utime + stime`` of ``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def descendants(pid: int) -> list[int]:
    """The live children of ``pid``, their children, and so on (a kernel of a Jupyter server)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{parent}/task"):
                with (
                    contextlib.suppress(OSError),
                    open(f"/proc/{parent}/task/{task}/children") as f,
                ):
                    for child in f.read().split():
                        found.append(int(child))
                        stack.append(int(child))
    return found


def tree_cpu_seconds(pid: int, apart: Collection[int] = ()) -> dict[int, float]:
    """CPU time of ``pid`` and of each of its live descendants, by pid; the processes in
    ``apart`` (counted on their own) are left out."""
    out: dict[int, float] = {}
    for each in (pid, *(d for d in descendants(pid) if d not in apart)):
        with contextlib.suppress(OSError, IndexError, ValueError):
            out[each] = cpu_seconds(each)
    return out


def tree_cpu_since(pid: int, before: dict[int, float], apart: Collection[int] = ()) -> float:
    """CPU seconds the tree of ``pid`` used since ``before`` (:func:`tree_cpu_seconds`);
    a child started in between counts from 0."""
    now = tree_cpu_seconds(pid, apart)
    return sum(value - before.get(each, 0.0) for each, value in now.items())


def core_busy_seconds() -> dict[str, float]:
    """Busy time per core from /proc/stat (all processes on the machine, ours and others')."""
    busy: dict[str, float] = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                ticks = [int(v) for v in values[:8]]
                # user nice system idle iowait irq softirq steal: all but idle and iowait
                busy[name[3:]] = (sum(ticks) - ticks[3] - ticks[4]) / TICK
    return busy
