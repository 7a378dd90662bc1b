"""A real ``jupyter server`` with jupyter_rt in a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from jupyter_rt.testing._process import Process, free_port, wait_for_port

__all__ = ["JupyterServer", "Spawn"]

#: Variables a test server must not inherit: they would point clients at another server.
_FOREIGN_ENV = ("JUPYTER_RT_URL", "JUPYTER_RT_TOKEN", "JUPYTER_TOKEN", "JUPYTERHUB_API_TOKEN")

#: What Jupyter prints once it serves requests.
READY = r"Jupyter Server .* is running at"


class Spawn(Protocol):
    """Starts ``argv`` and returns the running :class:`Process` (e.g. the ``rt_spawn`` fixture)."""

    def __call__(
        self, argv: Sequence[str], *, name: str, env: Mapping[str, str], cwd: Path
    ) -> Process: ...


def _trait_args(traits: Mapping[str, object]) -> list[str]:
    args: list[str] = []
    for name, value in traits.items():
        values: Iterable[object] = value if isinstance(value, list | tuple) else [value]
        args += [f"--{name}={item}" for item in values]
    return args


class JupyterServer:
    """``jupyter server`` (or ``jupyter lab``: ``command="lab"``) with the jupyter_rt extension.

    It listens on 127.0.0.1 on a free port with a random token, in Jupyter folders of its own
    under ``home`` (config, data, runtime; root ``home/root`` unless ``root_dir``), and runs as
    root with ``--allow-root``::

        server = JupyterServer(tmp_path, apps=["mypackage.realtime:setup"]).start()
        client = AsyncClient()
        await client.connect(server.url, path=server.path, token=server.token)
        ...
        server.stop()

    ``apps`` sets ``c.RealtimeApp.apps``; ``traits`` are more settings (``{"RealtimeApp.
    redis_url": url}``; a list value repeats the option); ``args`` are more command-line
    arguments; ``env`` adds environment variables; ``token`` replaces the random token (servers
    of one cluster behind a balancer share theirs). ``spawn`` starts the process (by default a
    :class:`Process` logging to ``home/jupyter-<command>.log``).
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        apps: Sequence[str] | None = None,
        traits: Mapping[str, object] | None = None,
        base_url: str = "/",
        root_dir: str | os.PathLike[str] | None = None,
        command: str = "server",
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        spawn: Spawn | Callable[..., Process] | None = None,
        token: str | None = None,
    ) -> None:
        self.home = Path(home)
        self.command = command
        self.base_url = base_url
        self.port = free_port()
        self.token = token or secrets.token_hex(16)
        self.root_dir = Path(root_dir) if root_dir is not None else self.home / "root"
        self.runtime_dir = self.home / "runtime"
        self.config_dir = self.home / "config"
        self.data_dir = self.home / "data"
        self.argv = [
            sys.executable,
            "-m",
            "jupyter",
            command,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--ServerApp.base_url={base_url}",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.jpserver_extensions=jupyter_rt=True",
        ]
        if apps is not None:
            self.argv += [f"--RealtimeApp.apps={app}" for app in apps]
        self.argv += _trait_args(traits or {})
        self.argv += args
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self.argv.append("--allow-root")
        self.env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
        self.env.update(
            {
                "JUPYTER_CONFIG_DIR": str(self.config_dir),
                "JUPYTER_DATA_DIR": str(self.data_dir),
                "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            }
        )
        self.env.update(env or {})
        self._spawn = spawn
        self._process: Process | None = None

    # -- where it is -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port><base_url>``: what a client connects to."""
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    @property
    def path(self) -> str:
        """The Socket.IO path clients need: ``{base_url}socket.io/``."""
        return f"{self.base_url}socket.io/"

    @property
    def process(self) -> Process:
        """The running process (after :meth:`start`)."""
        if self._process is None:
            raise RuntimeError("the Jupyter server was not started")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        """What the server logged so far (Jupyter's and jupyter_rt's lines)."""
        return self._process.output() if self._process is not None else ""

    # -- life ----------------------------------------------------------------------------------

    def launch(self) -> JupyterServer:
        """Start the process and return at once (then :meth:`wait_ready`)."""
        self.root_dir.mkdir(parents=True, exist_ok=True)
        name = f"jupyter-{self.command}"
        if self._spawn is not None:
            self._process = self._spawn(self.argv, name=name, env=self.env, cwd=self.home)
        else:
            log_path = self.home / f"{name}.log"
            process = Process(self.argv, name=name, env=self.env, cwd=self.home, log_path=log_path)
            self._process = process.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> JupyterServer:
        """Block until the server accepts connections and says it is running."""
        wait_for_port(self.port, timeout=timeout)
        self.process.wait_for_output(READY, timeout)
        return self

    def start(self, timeout: float = 60.0) -> JupyterServer:
        """:meth:`launch`, then :meth:`wait_ready`; return ``self``."""
        return self.launch().wait_ready(timeout)

    def stop(self) -> None:
        """Stop the server and what it started (kernels), by its process group."""
        if self._process is not None:
            self._process.stop()

    def __enter__(self) -> JupyterServer:
        return self.start() if self._process is None else self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<JupyterServer {self.url} {self._process!r}>"
