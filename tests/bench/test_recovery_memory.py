"""``bench/recovery_memory.py`` keeps working, and what recovery keeps stays small: a
disconnected session and a stored packet cost what the README says, give or take."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import REPO


def test_a_kept_session_and_a_kept_packet_stay_small() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "bench/recovery_memory.py",
            *("--sessions", "500", "--packets", "500", "--payload", "100", "--json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    # README: about 0.9 KB per disconnected session (2 rooms, small data), about 560 bytes
    # per stored packet besides its encoded payload.
    assert 300 < result["bytes_per_session"] < 1500, result
    assert 200 < result["packet_overhead_bytes"] < 800, result
