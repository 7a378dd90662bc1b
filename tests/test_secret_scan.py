"""The plugin of :mod:`tests.secret_scan` fails a run whose logs hold a test secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO

LEAKY = """
import logging
from tests import secret_scan

def test_leaks():
    secret_scan.add_secret("s3cr3t-t0ken-value")
    logging.getLogger("some.library").warning("GET /x?token=%s", "s3cr3t-t0ken-value")

def test_banner_is_allowed():
    secret_scan.add_secret("an0ther-t0ken")
    logging.getLogger("ServerApp").info("    http://127.0.0.1:8888/lab?token=an0ther-t0ken")
"""


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.secret_scan"]\n')
    (tmp_path / "test_it.py").write_text(source)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)]
    return subprocess.run(
        argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_leak_fails_the_run_with_the_secret_masked(tmp_path: Path) -> None:
    result = _run(tmp_path, LEAKY)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "2 passed" in out, out
    assert "secrets in logs" in out, out
    assert "test_it.py::test_leaks: log record WARNING some.library" in out, out
    assert "GET /x?token=s3…" in out, out
    assert "s3cr3t-t0ken-value" not in out and "an0ther-t0ken" not in out, out


def test_a_clean_run_passes(tmp_path: Path) -> None:
    clean = LEAKY.replace('"GET /x?token=%s", "s3cr3t-t0ken-value"', '"GET /x?token=[secret]"')
    result = _run(tmp_path, clean)
    assert result.returncode == 0, result.stdout + result.stderr
