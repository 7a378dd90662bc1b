"""Helpers and pytest fixtures for testing jupyter_rt apps (and jupyter_rt itself).

::

    from jupyter_rt.testing import InProcessServer, wait_until

    async def test_note_reaches_the_room(rt_server):
        my_app.setup(rt_server.io)
        alice, bob = await rt_server.connect("/notes"), await rt_server.connect("/notes")
        ...
        await wait_until(lambda: seen, message="bob's note")

The fixtures (``rt_server``, ``rt_jupyter``, ``rt_spawn``) come from
:mod:`jupyter_rt.testing.plugin`, which pytest loads by itself once jupyter_rt is installed.
"""

from __future__ import annotations

from jupyter_rt.testing._inprocess import InProcessServer
from jupyter_rt.testing._jupyter import JupyterServer
from jupyter_rt.testing._process import Process, Spawner, free_port, port_open, wait_for_port
from jupyter_rt.testing._wait import WaitTimeout, wait_until, wait_until_sync

__all__ = [
    "InProcessServer",
    "JupyterServer",
    "Process",
    "Spawner",
    "WaitTimeout",
    "free_port",
    "port_open",
    "wait_for_port",
    "wait_until",
    "wait_until_sync",
]
