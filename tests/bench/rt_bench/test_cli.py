"""Keeps ``python bench/run.py`` working: quick runs print the table with its ratios to Node,
the targets and the notes, and write the JSON and the scaling plot."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, require_binary, unavailable

BENCH = REPO / "bench"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def bench(tmp_path: Path, *args: str) -> tuple[dict[str, Any], str]:
    require_binary("node")
    if not (BENCH / "node_modules" / "ws" / "package.json").is_file():
        unavailable("bench packages not installed (run `jlpm install` in bench/)")
    out = tmp_path / "latest.json"
    plot = tmp_path / "scaling.png"
    argv = ["--quick", "--duration", "0.5", "--out", str(out), "--plot", str(plot), *args]
    proc = subprocess.run(
        [sys.executable, "bench/run.py", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


@pytest.mark.jupyter
def test_jupyter_against_node_gives_ratios_targets_and_a_plot(tmp_path: Path) -> None:
    report, stdout = bench(
        tmp_path,
        *("--servers", "jupyter_rt,node", "--scenarios", "paced,scale"),
        *("--scale-sizes", "10", "--rooms", "2"),
    )
    for server in ("jupyter_rt", "node"):
        runs = report["results"][server]
        echo = runs["scale-echo-10"]["runs"][0]
        assert echo["failures"] == 0 and echo["acks_per_s"] > 0, echo
        assert echo["server_cpu"] > 0 and echo["load_proc_cpu"] > 0, echo
        paced = runs["paced"]["runs"][0]
        assert paced["rate"] > 0 and paced["lost"] == 0, paced
        assert paced["latency"]["p99_ms"] >= paced["latency"]["p50_ms"] > 0, paced
        fanout = runs["scale-fanout-10"]["runs"][0]
        assert fanout["deliveries"] > 0 and fanout["lost"] == 0, fanout
        rooms = runs["rooms"]["runs"][0]
        # 10 clients in 2 rooms: a broadcast to one reaches its 5 members only.
        assert rooms["room_members"] == 5 and rooms["lost"] == 0 and rooms["strays"] == 0, rooms

    table = {row["figure"]: row for row in report["table"]}
    assert table["scale 10: echo acks/s"]["rt/node"] > 0
    assert table["scale 10: fanout deliveries/s"]["rt/node"] > 0
    assert table["rooms: server us per broadcast"]["node"] > 0
    assert {t["target"] for t in report["targets"]} == {"paced fanout p99 <= node"}
    assert "rt/node" in stdout and "target: paced fanout p99 <= node" in stdout
    assert Path(report["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_standalone_connect_polling_and_cluster(tmp_path: Path) -> None:
    scenarios = "connect,poll-echo" + (",cluster" if shutil.which("redis-server") else "")
    report, stdout = bench(tmp_path, "--servers", "standalone", "--scenarios", scenarios)
    runs = report["results"]["standalone"]
    connect = runs["connect"]["runs"][0]
    assert connect["failures"] == 0 and connect["connected"] == connect["clients"] > 0
    assert connect["rss_connected_kib"] > 0 and connect["rss_baseline_kib"] > 0
    poll = runs["poll-echo"]["runs"][0]
    assert poll["failures"] == 0 and poll["acks"] > 0, poll
    if "cluster" in scenarios:
        cluster = runs["cluster"]["runs"][0]
        assert cluster["deliveries_per_s"] > 0, cluster
        assert cluster["lost"] == 0 and cluster["strays"] == 0, cluster
    table = {row["figure"]: row for row in report["table"]}
    assert table["poll-echo: acks/s"]["standalone"] > 0
    assert "standalone" in stdout
