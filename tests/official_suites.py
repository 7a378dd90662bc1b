"""The official Engine.IO v4 and Socket.IO v5 protocol test suites, run against jupyter_rt.

The suites live in the socketio/socket.io repository (``docs/engine.io-protocol/v4-test-suite``
and ``docs/socket.io-protocol/v5-test-suite``) and are not part of this project. To run them,
point ``JUPYTER_RT_PROTOCOL_SUITES`` at a folder holding those two folders (a socket.io checkout's
``docs/``), each with its ``npm install`` done::

    JUPYTER_RT_PROTOCOL_SUITES=~/src/socket.io/docs pytest tests/engine/test_official_suites.py

Without it these tests skip. The suites expect ``localhost:3000``; the test runs a copy of the
suite pointed at a free port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, Process, free_port, require_binary, wait_for_port

SUITES = {
    "engine.io-v4": ("engine.io-protocol/v4-test-suite", "tests.engine.echo_server"),
    "socket.io-v5": ("socket.io-protocol/v5-test-suite", "tests.server.suite_server"),
}


@pytest.mark.slow
@pytest.mark.interop
@pytest.mark.parametrize("name", sorted(SUITES))
def test_official_suite(name: str, tmp_path: Path, artifacts: Path) -> None:
    root = os.environ.get("JUPYTER_RT_PROTOCOL_SUITES")
    if not root:
        pytest.skip("set JUPYTER_RT_PROTOCOL_SUITES to run the official protocol suites")
    folder, server_module = SUITES[name]
    suite = Path(root).expanduser() / folder
    mocha = suite / "node_modules" / ".bin" / "mocha"
    if not mocha.exists():
        pytest.skip(f"{suite}: run `npm install` there first")
    node = require_binary("node")

    port = free_port()
    copy = tmp_path / "suite"
    copy.mkdir()
    for file in ("test-suite.js", "node-imports.js", "package.json"):
        text = (suite / file).read_text()
        (copy / file).write_text(text.replace("localhost:3000", f"localhost:{port}"))
    (copy / "node_modules").symlink_to(suite / "node_modules")

    server = Process(
        [sys.executable, "-m", server_module, "--port", str(port)],
        name=name,
        cwd=REPO,
        log_path=artifacts / f"{name}-server.log",
    ).start()
    try:
        wait_for_port(port)
        result = subprocess.run(
            [node, str(mocha), "--reporter", "spec", "test-suite.js"],
            cwd=copy,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.stop()
    shutil.rmtree(copy, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " failing" not in result.stdout
