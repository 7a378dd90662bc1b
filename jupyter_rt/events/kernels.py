"""The execution state of each kernel of a Jupyter server, as it reports it on IOPub.

:class:`KernelStates` opens its own IOPub subscription to each running kernel (the kernel
manager's public ``connect_iopub``) and reports every ``status`` message; it learns of kernels
started, restarted and shut down from the server's ``kernel_actions`` events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from jupyter_client.session import Session

__all__ = ["KERNEL_ACTIONS", "KernelStates"]

log = logging.getLogger("jupyter_rt.events")

KERNEL_ACTIONS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
"""The schema of jupyter_server's kernel action events (start, restart, shutdown…)."""
MAX_STATE_LENGTH = 32
LISTED_WITHIN = 30.0
"""Seconds a kernel told started has to appear in the kernel manager to be watched."""
LISTED_POLL = 0.02


class _Watch:
    """One kernel's IOPub subscription."""

    def __init__(self, kernel_id: str, kernel: Any, report: Callable[[str, str], None]) -> None:
        self.kernel_id = kernel_id
        self._report = report
        self._last: str | None = None
        self._session = Session(config=kernel.session.config, key=kernel.session.key)
        self._stream = kernel.connect_iopub()
        self._stream.on_recv(self._on_message)
        self._kernel = kernel
        kernel.add_restart_callback(self._on_dead, "dead")

    def report(self, state: str) -> None:
        if state != self._last:
            self._last = state
            self._report(self.kernel_id, state)

    def _on_message(self, frames: list[bytes]) -> None:
        try:
            _, fed = self._session.feed_identities(frames)
            header = self._session.deserialize(fed, content=False)["header"]
            if header.get("msg_type") != "status":
                return
            state = self._session.deserialize(fed)["content"].get("execution_state")
        except Exception:  # not a message of this kernel's session
            log.debug("Unreadable IOPub message from kernel %s", self.kernel_id)
            return
        if isinstance(state, str) and 0 < len(state) <= MAX_STATE_LENGTH:
            self.report(state)

    def _on_dead(self) -> None:
        self.report("dead")

    def close(self) -> None:
        self._kernel.remove_restart_callback(self._on_dead, "dead")
        self._stream.close()


class KernelStates:
    """Calls ``report(kernel_id, execution_state)`` for each state change of each kernel of
    ``kernel_manager`` (jupyter_server's ``MappingKernelManager``)."""

    def __init__(self, kernel_manager: Any, report: Callable[[str, str], None]) -> None:
        self._kernels = kernel_manager
        self._report = report
        self._watches: dict[str, _Watch] = {}

    def watch_running(self) -> None:
        """Watch the kernels running now."""
        for kernel_id in list(self._kernels.list_kernel_ids()):
            self._watch(kernel_id)

    async def on_kernel_action(self, data: dict[str, Any]) -> None:
        """A ``kernel_actions`` event: start watching a kernel started, again a kernel
        restarted; a kernel shut down is reported ``dead``."""
        kernel_id = data.get("kernel_id")
        if data.get("status") != "success" or not isinstance(kernel_id, str):
            return
        action = data.get("action")
        if action in ("start", "restart"):
            self._unwatch(kernel_id)
            # A kernel's start is told before the kernel manager lists it.
            deadline = asyncio.get_running_loop().time() + LISTED_WITHIN
            while kernel_id not in self._kernels:
                if asyncio.get_running_loop().time() > deadline:
                    log.debug("Kernel %s started but was never listed", kernel_id)
                    return
                await asyncio.sleep(LISTED_POLL)
            self._watch(kernel_id)
        elif action == "shutdown":
            watch = self._watches.get(kernel_id)
            if watch is not None:
                watch.report("dead")
            self._unwatch(kernel_id)

    def _watch(self, kernel_id: str) -> None:
        if kernel_id in self._watches or kernel_id not in self._kernels:
            return
        kernel = self._kernels.get_kernel(kernel_id)
        try:
            watch = _Watch(kernel_id, kernel, self._report)
        except Exception:
            log.exception("Cannot watch the IOPub of kernel %s", kernel_id)
            return
        self._watches[kernel_id] = watch
        state = getattr(kernel, "execution_state", None)
        if isinstance(state, str):
            watch.report(state)

    def _unwatch(self, kernel_id: str) -> None:
        watch = self._watches.pop(kernel_id, None)
        if watch is not None:
            watch.close()

    def close(self) -> None:
        """Stop watching every kernel."""
        for kernel_id in list(self._watches):
            self._unwatch(kernel_id)
