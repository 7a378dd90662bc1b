"""The in-process Jupyter server of ``tests/jupyter`` (pytest-jupyter's, on the test's loop)."""

from __future__ import annotations

from tests.jupyter.conftest import (
    _restore_jupyter_rt_logger,
    jp_server_config,
    jupyter,
    rt_config,
    rt_log,
    server_config,
)

__all__ = [
    "_restore_jupyter_rt_logger",
    "jp_server_config",
    "jupyter",
    "rt_config",
    "rt_log",
    "server_config",
]
