"""Jupyter's own events as rooms: the ``/jupyter`` namespace (``c.RealtimeApp.jupyter_events``,
on by default); see :mod:`jupyter_rt.events.namespace` for its events."""

from __future__ import annotations

from jupyter_rt.events.kernels import KERNEL_ACTIONS, KernelStates
from jupyter_rt.events.namespace import (
    EVENTS_RESOURCE,
    KERNEL_STATUS,
    MAX_SUBSCRIPTIONS,
    NAMESPACE,
    JupyterEvents,
)

__all__ = [
    "EVENTS_RESOURCE",
    "KERNEL_ACTIONS",
    "KERNEL_STATUS",
    "MAX_SUBSCRIPTIONS",
    "NAMESPACE",
    "JupyterEvents",
    "KernelStates",
]
