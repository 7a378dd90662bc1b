"""Shared test helpers: external binaries, free ports and subprocesses.

Import them as ``from tests.helpers import free_port, require_binary, Process``.

Tests that need something outside Python (``redis-server``, ``chromium``, ``node`` and the packages
in ``tests/node``) call :func:`require_binary` / :func:`require_node_packages`. Locally a missing
piece skips the test; with ``JUPYTER_RT_REQUIRE_ALL=1`` (set by ``.ci/run``) it fails it, so CI
never goes green by skipping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

import pytest

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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    """Block until ``host:port`` accepts connections; raise TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not port_open(port, host):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")
        time.sleep(0.05)


def artifact_dir(name: str) -> Path:
    """``test-artifacts/<name>/`` (created), for screenshots and logs CI may keep."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:120] or "test"
    path = ARTIFACTS_DIR / safe
    path.mkdir(parents=True, exist_ok=True)
    return path


class Process:
    """A subprocess for a test, with its output in a log file, stopped by PID.

    The child runs in its own session (process group = its PID), so :meth:`stop` also ends what
    it started (a Jupyter server's kernels, a shell's children) and nothing else.

        proc = Process(["redis-server", "--port", str(port)], name="redis").start()
        proc.wait_for_output(r"Ready to accept connections")
        ...
        proc.stop()
    """

    def __init__(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        name: str | None = None,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.argv = [os.fspath(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.log_path = (
            Path(log_path)
            if log_path
            else artifact_dir("processes")
            / (f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log")
        )
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was not started")
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def start(self) -> Process:
        from tests import secret_scan

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        secret_scan.watch_file(self.log_path)
        for arg in self.argv:
            if arg.startswith("--IdentityProvider.token="):
                secret_scan.add_secret(arg.partition("=")[2])
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.popen = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr interleaved)."""
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _check_output(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.search(self.output())
        if match is None and not self.running:
            raise RuntimeError(
                f"{self.name} exited with {self.returncode} before printing "
                f"{pattern.pattern!r}; output:\n{self.output()[-4000:]}"
            )
        return match

    def wait_for_output(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[str]:
        """Block until the output matches ``pattern`` (regex); return the match."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while (match := self._check_output(regex)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name} did not print {regex.pattern!r} in {timeout}s; output:\n"
                    f"{self.output()[-4000:]}"
                )
            time.sleep(0.05)
        return match

    async def await_output(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[str]:
        """Like :meth:`wait_for_output`, without blocking the event loop."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while (match := self._check_output(regex)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name} did not print {regex.pattern!r} in {timeout}s; output:\n"
                    f"{self.output()[-4000:]}"
                )
            await asyncio.sleep(0.05)
        return match

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout`` s; return the exit code."""
        popen = self.popen
        if popen is not None:
            if popen.poll() is None:
                self._signal_group(signal.SIGTERM)
                try:
                    popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._signal_group(signal.SIGKILL)
                    popen.wait(timeout)
            # Children that outlived the leader are still in its group.
            self._signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        return None if popen is None else popen.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def __enter__(self) -> Process:
        return self if self.popen is not None else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else f"exited {self.returncode}"
        return f"<Process {self.name} pid={self.popen.pid if self.popen else None} {state}>"


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, with no persistence."""

    def __init__(self, binary: str, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.process = Process(
            [
                binary,
                "--bind",
                host,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
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


def serve_suite_app(
    make_app: Callable[[], tuple[Any, Any, Any]], banner: str, doc: str | None
) -> None:
    """Command line of a test server: ``--host``, ``--port`` (3000), ``--log-level``; serves
    ``make_app()``'s Tornado app until interrupted. ``banner`` is printed with ``{url}``."""
    import argparse
    import logging

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level)

    async def main() -> None:
        app, driver, _ = make_app()
        server = app.listen(args.port, args.host)
        print(banner.format(url=f"http://{args.host}:{args.port}"), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            driver.shutdown()
            server.stop()

    asyncio.run(main())


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Wait (polling every 10 ms on the running loop) until ``condition()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)
