"""Keeps ``bench/run.py comms`` working: a kernel's messages reach a page through jupyter_rt and
as a comm, and a page's request reaches the kernel while a cell is busy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, require_binary, require_node_packages, unavailable

pytestmark = [pytest.mark.slow, pytest.mark.jupyter, pytest.mark.timeout(300)]


def test_quick_comms_run_measures_both_paths(tmp_path: Path) -> None:
    require_binary("node")
    require_node_packages("socket.io-client")
    if not (REPO / "bench" / "node_modules" / "ws" / "package.json").is_file():
        unavailable("bench packages not installed (run `jlpm install` in bench/)")
    out = tmp_path / "comms.json"
    argv = ["comms", "--quick", "--scenarios", "comms-1", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "bench/run.py", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    for kind in ("jupyter_rt", "comm"):
        run = report["results"][kind]["comms-1"]["runs"][0]
        assert run["received"] == run["expected"] == run["messages_sent"] > 0, run
        assert run["latency"]["p99_ms"] >= run["latency"]["p50_ms"] > 0, run
        assert run["busy_ms"] > 0, run
    rt = report["results"]["jupyter_rt"]["comms-1"]["runs"][0]
    comm = report["results"]["comm"]["comms-1"]["runs"][0]
    # The cell sleeps for 2 s from 0.5 s before the request: the comm's answer waits for its
    # end, the hosted namespace's handler runs meanwhile.
    assert comm["busy_ms"] > 1000 > rt["busy_ms"], (rt, comm)
    assert "rt/comm" in proc.stdout
