"""Namespaces served by a kernel, on the notebook server's own port.

In a notebook cell::

    from jupyter_rt.kernel import host

    poll = host("/poll")  # claims /poll on the Jupyter server that runs this kernel

    @poll.on("connection")
    def on_connection(socket):
        socket.join("voters")

Browsers and other clients connect to ``{base_url}socket.io/`` namespace ``/poll`` as to any
built-in app. The kernel runs a real :class:`jupyter_rt.Server`; the Jupyter server relays its
clients' sessions over one authenticated connection (the tunnel) and keeps the rooms, so a
broadcast crosses the tunnel once and Redis, emitters and other servers reach the members.

Modules: :mod:`~jupyter_rt.kernel.tunnel` (the messages, both sides), on the Jupyter side
:mod:`~jupyter_rt.kernel.relay` and :mod:`~jupyter_rt.kernel.relay_namespace` (installed by the
extension), in the kernel :mod:`~jupyter_rt.kernel.runtime`, :mod:`~jupyter_rt.kernel.session`,
:mod:`~jupyter_rt.kernel.output` and :mod:`~jupyter_rt.kernel.hosted` (``host``). The Jupyter
side never imports the kernel side (nor the client); ``host`` is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_rt.kernel.hosted import HostedNamespace, HostedOperator, host

__all__ = ["HostedNamespace", "HostedOperator", "host"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from jupyter_rt.kernel import hosted

        return getattr(hosted, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
