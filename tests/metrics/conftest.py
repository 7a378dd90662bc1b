"""The in-process Jupyter server of ``tests/jupyter`` (fixture ``jupyter``, configured by
``rt_config`` and ``server_config``), for the metrics it serves."""

from __future__ import annotations

from tests.jupyter.conftest import (  # noqa: F401
    _restore_jupyter_rt_logger,
    jp_server_config,
    jupyter,
    rt_config,
    rt_log,
    server_config,
)
