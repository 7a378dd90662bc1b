"""Keeps ``bench/run.py hosted`` (``bench/rt_bench/jupyter.py``) working: a quick run measures
both sides in a real Jupyter server (the hosted one through a real kernel), reports ratios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, require_binary, unavailable

BENCH = REPO / "bench"

pytestmark = [pytest.mark.slow, pytest.mark.jupyter, pytest.mark.timeout(600)]


def test_quick_hosted_run_measures_both_sides(tmp_path: Path) -> None:
    require_binary("node")
    if not (BENCH / "node_modules" / "ws" / "package.json").is_file():
        unavailable("bench packages not installed (run `jlpm install` in bench/)")
    out = tmp_path / "hosted.json"
    proc = subprocess.run(
        [sys.executable, "bench/run.py", "hosted", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["comparison"] == "hosted"
    for side in ("in-process", "hosted"):
        echo = report["results"][side]["echo"]["runs"][0]
        assert echo["failures"] == 0 and echo["acks_per_s"] > 0, echo
        fanout = report["results"][side]["fanout"]["runs"][0]
        assert fanout["failures"] == 0 and fanout["deliveries_per_s"] > 0, fanout
        assert fanout["lost"] == 0 and fanout["strays"] == 0, fanout
    # The hosted side's CPU is the Jupyter server's and its kernel's, both at work.
    split = report["results"]["hosted"]["echo"]["runs"][0]["cpu_by_process"]
    assert split["jupyter"] > 0 and split["kernel"] > 0, split

    table = {row["figure"]: row for row in report["table"]}
    assert table["fanout: deliveries/s"]["hosted/in-process"] > 0
    assert table["echo: acks/s"]["hosted/in-process"] > 0
    assert {t["target"] for t in report["targets"]} >= {
        "hosted fanout deliveries/s >= 0.8x in-process",
        "hosted echo acks/s >= 0.3x in-process",
    }
    assert "hosted/in-process" in proc.stdout
