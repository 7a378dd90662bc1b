"""Fixtures of the kernel-hosting tests: a real Jupyter server with the extension, shared by a
test module (each test hosts names of its own and stops its kernels), and kernels on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from jupyter_rt.testing import JupyterServer, Spawner
from tests.helpers import Process, artifact_dir, start_jupyter_server
from tests.kernel.support import Kernel, running_kernel


@pytest.fixture(scope="module")
def jupyter_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """One Jupyter server for the test module (``SERVER_TRAITS`` in the module add settings)."""
    spawn = Spawner(artifact_dir(request.module.__name__), Process)
    traits: dict[str, object] = {"RealtimeApp.hosted_vacancy": 60}
    traits.update(getattr(request.module, "SERVER_TRAITS", {}))
    try:
        yield start_jupyter_server(spawn, tmp_path_factory.mktemp("hosting"), traits=traits)
    finally:
        spawn.stop_all()


@pytest.fixture
async def kernel(jupyter_server: JupyterServer) -> AsyncIterator[Kernel]:
    """A kernel started by the module's server (shut down after the test)."""
    async with running_kernel(jupyter_server) as started:
        yield started
