"""Benchmark jupyter_rt inside a real Jupyter server against its standalone mount, Node's
socket.io and python-socketio, side by side: ``python bench/run.py`` (``--help``; see
bench/README.md). The harness is the package ``bench/rt_bench``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rt_bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
