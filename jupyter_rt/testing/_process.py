"""A subprocess for a test: output in a log file, stopped by PID with whatever it started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["Process", "free_port", "port_open", "wait_for_port"]


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


class Process:
    """A subprocess with its output (stdout and stderr) in a log file, stopped by PID.

    The child runs in its own session (process group = its PID), so :meth:`stop` also ends what
    it started (a Jupyter server's kernels, a shell's children) and nothing else::

        proc = Process(["redis-server", "--port", str(port)], name="redis").start()
        proc.wait_for_output(r"Ready to accept connections")
        ...
        proc.stop()

    Without ``log_path`` the log goes to a new file in the temporary folder.
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
        self.log_path = Path(log_path) if log_path else self.default_log_path()
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def default_log_path(self) -> Path:
        """Where the log goes when no ``log_path`` is given (subclasses may choose)."""
        folder = Path(tempfile.gettempdir()) / "jupyter_rt-test-processes"
        return folder / f"{self.name}-{os.getpid()}-{time.monotonic_ns()}.log"

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
        """Start the process (its log file is truncated); return ``self``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
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

    def _timed_out(self, pattern: re.Pattern[str], timeout: float) -> TimeoutError:
        return TimeoutError(
            f"{self.name} did not print {pattern.pattern!r} in {timeout}s; output:\n"
            f"{self.output()[-4000:]}"
        )

    def wait_for_output(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[str]:
        """Block until the output matches ``pattern`` (regex); return the match.

        Raises RuntimeError if the process exits first, TimeoutError after ``timeout`` s."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while (match := self._check_output(regex)) is None:
            if time.monotonic() > deadline:
                raise self._timed_out(regex, timeout)
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
                raise self._timed_out(regex, timeout)
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


class Spawner:
    """Starts :class:`Process` es with their logs in ``log_dir``, and stops them all (newest
    first) at :meth:`stop_all`: what the ``rt_spawn`` fixture hands a test."""

    def __init__(self, log_dir: Path, process_class: type[Process] = Process) -> None:
        self.log_dir = log_dir
        self.process_class = process_class
        self.started: list[Process] = []

    def __call__(self, argv: Sequence[Any], *, name: str | None = None, **kwargs: Any) -> Process:
        """Start ``argv`` (``cwd=``, ``env=`` as :class:`Process`); return the process."""
        label = name or Path(str(argv[0])).name
        kwargs.setdefault("log_path", self.log_dir / f"{label}-{len(self.started)}.log")
        process = self.process_class(argv, name=label, **kwargs)
        self.started.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop()
