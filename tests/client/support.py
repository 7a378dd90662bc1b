"""Servers for the client tests: ``jupyter_rt`` on an in-process Tornado app, and a real
token-protected ``jupyter server`` in a subprocess (also used by ``tests/notebooks``)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tornado import httpserver, web

import jupyter_rt
from jupyter_rt.transports import EngineDriver, mount
from tests import secret_scan
from tests.helpers import REPO, Process, free_port, wait_for_port


class InProcessServer:
    """A ``jupyter_rt.Server`` mounted at ``/socket.io/`` on a Tornado app in this loop.

    :meth:`drop` closes every session without a CLOSE packet (clients should come back);
    :meth:`stop` and :meth:`start` take the listening port down and up again.
    """

    def __init__(self, **options: Any) -> None:
        self.io = jupyter_rt.Server(**options)
        self.app = web.Application()
        self.driver: EngineDriver = mount(self.app, self.io)
        self.port = free_port()
        self.http: httpserver.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InProcessServer:
        self.http = httpserver.HTTPServer(self.app)
        self.http.listen(self.port, "127.0.0.1")
        return self

    def drop(self) -> None:
        """Drop every transport the way a restarting server does: no CLOSE packet."""
        self.driver.engine.close_all("transport close")

    async def stop(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None
        self.drop()
        await asyncio.sleep(0)

    async def close(self) -> None:
        await self.stop()
        self.driver.shutdown()


@dataclass
class JupyterServer:
    """A ``jupyter server`` subprocess with jupyter_rt, a token and its own Jupyter dirs."""

    process: Process
    port: int
    token: str
    root_dir: Path
    runtime_dir: Path
    base_url: str = "/"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def env(self) -> dict[str, str]:
        """Environment variables that let discovery find this server."""
        return {"JUPYTER_RUNTIME_DIR": str(self.runtime_dir)}


def start_jupyter_server(
    spawn: Callable[..., Process],
    home: Path,
    *,
    root_dir: Path | None = None,
    base_url: str = "/",
    extra_args: tuple[str, ...] = (),
    extra_env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> JupyterServer:
    """Start ``jupyter server`` on 127.0.0.1 and a free port; wait until it writes its info file."""
    port = free_port()
    token = secrets.token_hex(16)
    secret_scan.add_secret(token)
    root = root_dir or home / "root"
    root.mkdir(parents=True, exist_ok=True)
    runtime = home / "runtime"
    env = dict(os.environ)
    for name in ("JUPYTER_RT_URL", "JUPYTER_RT_TOKEN", "JUPYTER_TOKEN"):
        env.pop(name, None)
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    env.update(extra_env or {})
    argv = [
        sys.executable,
        "-m",
        "jupyter",
        "server",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--ServerApp.base_url={base_url}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions=jupyter_rt=True",
        *extra_args,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    process = spawn(argv, name="jupyter-server", env=env, cwd=home)
    wait_for_port(port, timeout=timeout)
    server = JupyterServer(process, port, token, root, runtime, base_url)
    process.wait_for_output(r"Jupyter Server .* is running at", timeout)
    return server
