"""Shared test helpers: external binaries, free ports, subprocesses, node and Jupyter servers.

Import them as ``from tests.helpers import free_port, require_binary, Process``. What a user's
tests could use too (``wait_until``, the servers) is in :mod:`jupyter_rt.testing`.

Tests that need something outside Python (``redis-server``, ``chromium``, ``node`` and the packages
in ``tests/node``) call :func:`require_binary` / :func:`require_node_packages`. Locally a missing
piece skips the test; with ``JUPYTER_RT_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails it, so CI
never goes green by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import pytest

from jupyter_rt import testing
from jupyter_rt.testing import JupyterServer
from jupyter_rt.testing import free_port as free_port  # re-exported for the tests
from jupyter_rt.testing import port_open as port_open
from jupyter_rt.testing import wait_for_port as wait_for_port

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "tests" / "node"
ARTIFACTS_DIR = REPO / "test-artifacts"

#: Other names each binary goes by (Debian, Ubuntu, upstream builds).
_BINARY_ALIASES: dict[str, tuple[str, ...]] = {
    "chromium": ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"),
    "node": ("node", "nodejs"),
    "redis-server": ("redis-server",),
}

#: Flags for headless Chromium on a machine with no display and no outside network, as root.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_all() -> bool:
    """True when every test must run (``JUPYTER_RT_REQUIRE_ALL=1``, as in CI)."""
    return os.environ.get("JUPYTER_RT_REQUIRE_ALL", "") not in ("", "0")


def unavailable(what: str) -> NoReturn:
    """Skip the current test because ``what`` is missing, or fail it under REQUIRE_ALL."""
    if require_all():
        pytest.fail(
            f"{what} (JUPYTER_RT_REQUIRE_ALL is set: install it, e.g. `bash dev.sh test`)",
            pytrace=False,
        )
    pytest.skip(what)


def find_binary(name: str) -> str | None:
    """Full path of ``name`` (or one of its aliases) on PATH, else None."""
    for candidate in _BINARY_ALIASES.get(name, (name,)):
        path = shutil.which(candidate)
        if path:
            return path
    return None


def require_binary(name: str) -> str:
    """Return the path of binary ``name``; skip the test if missing (fail under REQUIRE_ALL)."""
    path = find_binary(name)
    if path is None:
        unavailable(f"{name} not found on PATH")
    return path


def require_node_packages(*packages: str) -> Path:
    """Check that node and ``packages`` are installed in ``tests/node``; return that folder.

    Run Node scripts with ``cwd=NODE_DIR`` or ``env=node_env()`` so ``require()`` finds them.
    """
    require_binary("node")
    for package in packages:
        if not (NODE_DIR / "node_modules" / package / "package.json").is_file():
            unavailable(f"npm package {package} not installed (run `jlpm install` in tests/node)")
    return NODE_DIR


def node_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a Node process that resolves packages from ``tests/node/node_modules``."""
    env = dict(os.environ)
    paths = [str(NODE_DIR / "node_modules")]
    if env.get("NODE_PATH"):
        paths.append(env["NODE_PATH"])
    env["NODE_PATH"] = os.pathsep.join(paths)
    if extra:
        env.update(extra)
    return env


def artifact_dir(name: str) -> Path:
    """``test-artifacts/<name>/`` (created), for screenshots and logs CI may keep."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "test"
    path = ARTIFACTS_DIR / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


class Process(testing.Process):
    """:class:`jupyter_rt.testing.Process` for this suite: its log in ``test-artifacts/`` by
    default, scanned for secrets (with any ``--IdentityProvider.token=`` it is given)."""

    def default_log_path(self) -> Path:
        return artifact_dir("processes") / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"

    def start(self) -> Process:
        from tests import secret_scan

        secret_scan.watch_file(self.log_path)
        for arg in self.argv:
            if arg.startswith("--IdentityProvider.token="):
                secret_scan.add_secret(arg.partition("=")[2])
        super().start()
        return self


def run_node(
    *args: str | os.PathLike[str],
    cwd: str | os.PathLike[str] = NODE_DIR,
    timeout: float = 30.0,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``node <args>`` to its end (packages resolved from ``tests/node``); its output is in
    the result. Skips the test when node is missing (fails under REQUIRE_ALL)."""
    return subprocess.run(
        [require_binary("node"), *(os.fspath(arg) for arg in args)],
        cwd=cwd,
        env=node_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def jupyter_server(spawn: Callable[..., Process], home: Path, **options: Any) -> JupyterServer:
    """A :class:`jupyter_rt.testing.JupyterServer` importing this checkout, to be started
    through ``spawn`` (the ``spawn`` fixture: logs kept, stopped at teardown); ``options`` go to
    it. The ``rt_jupyter`` fixture is the same server for tests that need one as it comes."""
    env = dict(options.pop("env", None) or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return JupyterServer(home, spawn=spawn, env=env, **options)


def start_jupyter_server(
    spawn: Callable[..., Process], home: Path, *, timeout: float = 60, **options: Any
) -> JupyterServer:
    """:func:`jupyter_server`, started; returns once it serves requests."""
    return jupyter_server(spawn, home, **options).start(timeout)


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, with no persistence; with
    ``data_dir``, with an append-only file there, written to disk before each reply
    (``appendfsync always``), so that a restart, even after :meth:`crash`, keeps every write
    Redis acknowledged."""

    def __init__(self, binary: str, host: str = "127.0.0.1", data_dir: Path | None = None) -> None:
        self.host = host
        self.port = free_port(host)
        persistence = ["--appendonly", "no"]
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data_dir)]
        self.process = Process(
            [
                binary,
                "--bind",
                host,
                "--port",
                str(self.port),
                "--save",
                "",
                *persistence,
                "--protected-mode",
                "no",
            ],
            name=f"redis-{self.port}",
        )

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        self.process.start()
        self.process.wait_for_output(r"[Rr]eady to accept connections", timeout)
        wait_for_port(self.port, self.host, timeout)
        return self

    def stop(self) -> None:
        self.process.stop()

    def crash(self) -> None:
        """Kill it with SIGKILL: no shutdown, no last save."""
        popen = self.process.popen
        if popen is not None and popen.poll() is None:
            popen.kill()
            popen.wait(5)
        self.process.stop()
