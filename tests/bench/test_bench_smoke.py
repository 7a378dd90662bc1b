"""Keeps the load harness in bench/ working: a quick run against jupyter_rt reports figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, require_binary, unavailable

BENCH = REPO / "bench"


@pytest.mark.slow
def test_quick_bench_run_reports_nonzero_figures(tmp_path: Path) -> None:
    require_binary("node")
    if not (BENCH / "node_modules" / "ws" / "package.json").is_file():
        unavailable("bench packages not installed (run `jlpm install` in bench/)")
    out = tmp_path / "latest.json"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "--quick", "--servers", "jupyter_rt", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    runs = report["results"]["jupyter_rt"]

    connect = runs["connect"]["runs"][0]
    assert connect["failures"] == 0
    assert connect["connected"] == connect["clients"] > 0
    assert connect["connects_per_s"] > 0
    assert connect["rss_connected_kib"] > 0 and connect["rss_baseline_kib"] > 0

    echo = runs["echo"]["runs"][0]
    assert echo["acks"] > 0 and echo["acks_per_s"] > 0
    assert echo["latency"]["p50_ms"] > 0

    fanout = runs["fanout"]["runs"][0]
    assert fanout["deliveries_per_s"] > 0
    assert fanout["lost"] == 0 and fanout["strays"] == 0
    assert fanout["latency"]["p99_ms"] >= fanout["latency"]["p50_ms"] > 0

    if shutil.which("redis-server"):  # the cluster scenario runs by default when it exists
        cluster = runs["cluster"]["runs"][0]
        assert cluster["deliveries_per_s"] > 0, cluster
        assert cluster["lost"] == 0 and cluster["strays"] == 0, cluster

    table = {row["figure"]: row for row in report["table"]}
    assert table["fanout: deliveries/s"]["jupyter_rt"] > 0
    assert "jupyter_rt" in proc.stdout
