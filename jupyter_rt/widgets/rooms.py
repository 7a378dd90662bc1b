"""``RoomsView``: the talk's "Need info about rooms?", as a live table.

It asks the ``/hub`` app's ``rooms()`` every ``interval`` seconds (a pushed ``rooms``
event works too) and shows one row per namespace and room with its member count. The
rows are synced back to the kernel as ``table``: ``[[namespace, room, members], ...]``.
"""

from __future__ import annotations

from typing import Any

from traitlets import Float, List, Unicode

from ._base import SocketWidget

__all__ = ["RoomsView"]


class RoomsView(SocketWidget):
    """A live table of namespaces, rooms and member counts."""

    _model_name = Unicode("RoomsModel").tag(sync=True)
    _view_name = Unicode("RoomsView").tag(sync=True)

    namespace = Unicode("/hub").tag(sync=True)
    interval = Float(1.0, min=0.2, help="Seconds between two rooms() requests.").tag(sync=True)
    table: List[list[object]] = List(
        read_only=True, help="[[namespace, room, members], ...] as last shown."
    ).tag(sync=True)
    updated = Unicode("", read_only=True, help="When the table last changed (ISO 8601).").tag(
        sync=True
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
