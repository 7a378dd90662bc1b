"""``ChatWidget``: the talk's multi-room chat, on the ``/chat`` app.

The page shows the messages of the current room, the list of rooms and an input line.
Lines starting with ``/`` are commands: ``/nick NAME`` asks for a nickname
(``nameAttempt`` → ``nameResult``), ``/join ROOM`` moves to another room (``join`` →
``joinResult``). Everything else is sent to the room as ``message {room, text}``.
Messages are rendered as text, never as HTML.

``nickname``, ``room`` and ``rooms`` are synced back to the kernel; :meth:`say` types a
line from Python.
"""

from __future__ import annotations

from typing import Any

from traitlets import List, Unicode

from ._base import SocketWidget

__all__ = ["ChatWidget"]


class ChatWidget(SocketWidget):
    """A chat client on ``/chat``, starting in ``room`` (``"Lobby"``)."""

    _model_name = Unicode("ChatModel").tag(sync=True)
    _view_name = Unicode("ChatView").tag(sync=True)

    namespace = Unicode("/chat").tag(sync=True)
    room = Unicode("Lobby", help="The current room (set it to choose the first one).").tag(
        sync=True
    )
    nickname = Unicode(
        "", help="The current nickname; a name set before connecting is asked for."
    ).tag(sync=True)
    rooms = List(Unicode(), read_only=True, help="The rooms the server knows.").tag(sync=True)

    def __init__(self, room: str = "Lobby", nickname: str | None = None, **kwargs: Any) -> None:
        super().__init__(room=room, nickname=nickname or "", **kwargs)

    def say(self, line: str) -> None:
        """Enter ``line`` as if typed in the input: a message, or ``/nick`` / ``/join``.

        Said before the widget is connected, a ``/nick`` is claimed once it connects, and
        messages wait until it is in its room under that nickname.
        """
        self._send_command({"kind": "chat", "text": str(line)})
