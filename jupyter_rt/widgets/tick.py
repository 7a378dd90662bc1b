"""``TickWidget``: the talk's proof of concept, live in a notebook.

The ``/tick`` app sends ``tickEvent {"tick": n}`` every second to each connection; the
page shows ``n`` and answers ``tickReceivedEvent {"tick": n}`` (the server logs
``Socket <id> got <n>``). All of it happens in the browser, so the count keeps climbing
while the kernel is busy; ``tick`` and ``received`` are synced back to the kernel.
"""

from __future__ import annotations

from typing import Any

from traitlets import Int, Unicode

from ._base import SocketWidget

__all__ = ["TickWidget"]


class TickWidget(SocketWidget):
    """Shows the ``/tick`` counter of this page's connection and acknowledges each tick."""

    _model_name = Unicode("TickModel").tag(sync=True)
    _view_name = Unicode("TickView").tag(sync=True)

    namespace = Unicode("/tick").tag(sync=True)
    tick = Int(None, allow_none=True, read_only=True, help="The last tick received.").tag(sync=True)
    received = Int(0, read_only=True, help="How many ticks the page received.").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
