"""The custom comm messages between a widget and its model in the browser.

Mirrors ``labextension/src/messages.ts``. Status (``connected``, ``transport``, ``sid``,
``rooms``, ``error``) travels as synced traits, not as messages. An ack id is chosen by
whoever waits for the ack: the kernel for ``emit``, the browser for server events that
ask for one. Binary values travel as comm buffers, replaced in the JSON by
``{"_jrt_buffer": n}`` (see :func:`deconstruct` and :func:`reconstruct`).

Every page on the kernel gets every kernel → browser message; ``to`` names the page
(its kernel client session) that acts on it, and the others ignore it (``None``: the
kernel could not tell pages apart, every page acts). Browser → kernel messages carry the
sending ``page``. See :mod:`jupyter_rt.widgets._base` for how the kernel picks the page.

Kernel → browser (each also has ``"to": str | None``)::

    {"kind": "emit", "event": str, "args": [...], "ack": int | None, "timeout": float | None}
    {"kind": "reply", "ack": int, "args": [...]}          # a handler's answer to a server ack
    {"kind": "connect"} / {"kind": "disconnect"}
    {"kind": "chat", "text": str}                         # ChatWidget: a line, as if typed

Browser → kernel (each also has ``"page": str``)::

    {"kind": "event", "event": str, "args": [...], "ack": int | None}
    {"kind": "ack", "ack": int, "args": [...], "error": None | "timeout" | str}
    {"kind": "lifecycle", "event": "connect" | "disconnect" | "connect_error", "args": [...]}
    {"kind": "views", "shown": bool}                      # the page shows the widget, or no more
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict

BUFFER_KEY = "_jrt_buffer"


class EmitMsg(TypedDict):
    kind: Literal["emit"]
    event: str
    args: list[object]
    ack: int | None
    timeout: float | None


class ReplyMsg(TypedDict):
    kind: Literal["reply"]
    ack: int
    args: list[object]


class ControlMsg(TypedDict):
    kind: Literal["connect", "disconnect"]


class ChatInputMsg(TypedDict):
    kind: Literal["chat"]
    text: str


class EventMsg(TypedDict):
    kind: Literal["event"]
    event: str
    args: list[object]
    ack: int | None


class AckMsg(TypedDict):
    kind: Literal["ack"]
    ack: int
    args: list[object]
    error: str | None


class LifecycleMsg(TypedDict):
    kind: Literal["lifecycle"]
    event: Literal["connect", "disconnect", "connect_error"]
    args: list[object]


class ViewsMsg(TypedDict):
    kind: Literal["views"]
    page: str
    shown: bool


KernelToBrowser = EmitMsg | ReplyMsg | ControlMsg | ChatInputMsg
BrowserToKernel = EventMsg | AckMsg | LifecycleMsg | ViewsMsg


def deconstruct(value: object) -> tuple[object, list[bytes]]:
    """Replace every ``bytes``-like value by a placeholder; return the JSON part and buffers."""
    buffers: list[bytes] = []

    def walk(v: object) -> object:
        if isinstance(v, (bytes, bytearray, memoryview)):
            buffers.append(bytes(v))
            return {BUFFER_KEY: len(buffers) - 1}
        if isinstance(v, (list, tuple)):
            return [walk(item) for item in v]
        if isinstance(v, dict):
            return {str(k): walk(item) for k, item in v.items()}
        return v

    return walk(value), buffers


def reconstruct(value: object, buffers: Sequence[bytes | memoryview] | None) -> object:
    """Put comm buffers back (as ``bytes``) where their placeholders are."""
    if not buffers:
        return value

    def walk(v: object) -> object:
        if isinstance(v, list):
            return [walk(item) for item in v]
        if isinstance(v, dict):
            if len(v) == 1 and BUFFER_KEY in v:
                index = v[BUFFER_KEY]
                if isinstance(index, int) and 0 <= index < len(buffers):
                    return bytes(buffers[index])
                return v
            return {k: walk(item) for k, item in v.items()}
        return v

    return walk(value)
