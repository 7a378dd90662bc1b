"""Run the official Engine.IO v4 and Socket.IO v5 protocol test suites against jupyter_rt.

The suites live in the socketio/socket.io repository (``docs/engine.io-protocol/v4-test-suite``
and ``docs/socket.io-protocol/v5-test-suite``) and are not part of this project, so this is a
command rather than a test the suite collects. Give it a folder holding those two folders (a
socket.io checkout's ``docs/``), each with its ``npm install`` done::

    python -m tests.official_suites ~/src/socket.io/docs

The suites expect ``localhost:3000``; each runs from a copy pointed at a free port, against
``tests.engine.echo_server`` (Engine.IO) or ``tests.server.suite_server`` (Socket.IO).
Exits non-zero if any suite fails.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import serve
from tests.helpers import REPO, Process, free_port, wait_for_port

SUITES = {
    "engine.io-v4": ("engine.io-protocol/v4-test-suite", "tests.engine.echo_server"),
    "socket.io-v5": ("socket.io-protocol/v5-test-suite", "tests.server.suite_server"),
}


def run_suite(name: str, docs: Path) -> bool:
    """Run one suite; prints mocha's report and returns whether it passed."""
    folder, server_module = SUITES[name]
    suite = docs.expanduser() / folder
    mocha = suite / "node_modules" / ".bin" / "mocha"
    if not mocha.exists():
        sys.exit(f"{suite}: run `npm install` there first")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp)
        for file in ("test-suite.js", "node-imports.js", "package.json"):
            text = (suite / file).read_text()
            (copy / file).write_text(text.replace("localhost:3000", f"localhost:{port}"))
        (copy / "node_modules").symlink_to(suite / "node_modules")
        server = Process(
            serve.command(server_module, port),
            name=name,
            cwd=REPO,
            log_path=copy / "server.log",
        ).start()
        try:
            wait_for_port(port)
            result = subprocess.run(
                ["node", str(mocha), "--reporter", "spec", "test-suite.js"],
                cwd=copy,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            server.stop()
        shutil.rmtree(copy / "node_modules", ignore_errors=True)
    print(f"== {name}\n{result.stdout[-6000:]}{result.stderr[-2000:]}")
    return result.returncode == 0 and " failing" not in result.stdout


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    docs = Path(sys.argv[1])
    passed = [run_suite(name, docs) for name in sorted(SUITES)]
    sys.exit(0 if all(passed) else 1)


if __name__ == "__main__":
    main()
