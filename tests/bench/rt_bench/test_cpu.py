"""CPU time from /proc: a server's children (a Jupyter server's kernel) count as its own."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.rt_bench.cpu import descendants, tree_cpu_seconds, tree_cpu_since

# A parent that idles while its child spins for a while.
PARENT = """
import subprocess, sys, time
spin = "import time\\nt = time.time()\\nwhile time.time() - t < 3: pass"
child = subprocess.Popen([sys.executable, "-c", spin])
print(child.pid, flush=True)
child.wait()
"""


def test_the_cpu_of_a_busy_child_counts_for_its_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert child in descendants(parent.pid)
        before = tree_cpu_seconds(parent.pid)
        time.sleep(0.5)
        used = tree_cpu_since(parent.pid, before)
        alone = tree_cpu_since(parent.pid, tree_cpu_seconds(parent.pid, {child}), {child})
        assert used > 0.2  # the child's spinning, though the parent sleeps
        assert alone < 0.1  # counted apart (as the kernel of the hosted side is)
    finally:
        parent.kill()
        parent.wait(5)
