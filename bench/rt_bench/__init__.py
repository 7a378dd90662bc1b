"""The bench harness behind ``python bench/run.py`` (see bench/README.md).

- ``cpu``: CPU time and memory of processes from ``/proc``;
- ``servers``: the servers under test (fresh per run, pinned), the settings, the pinning;
- ``jupyter``: jupyter_rt inside a real ``jupyter server`` (the main column, and ``hosted``);
- ``cluster``: two servers sharing one Redis;
- ``scenarios``: the load generator against one server, one scenario;
- ``report``: the table, the targets, the notes; ``plot``: the scaling plot (PNG);
- ``cli``: the command line.
"""

from __future__ import annotations

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
"""The ``bench/`` folder (load.mjs, servers/, results/)."""
REPO = BENCH.parent
RESULTS = BENCH / "results"
