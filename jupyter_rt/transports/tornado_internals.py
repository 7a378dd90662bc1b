"""The one home of every Tornado private attribute the transports rely on."""

from __future__ import annotations

import socket

from tornado import iostream


class TornadoStreamInternals:
    """The one place that uses private attributes of Tornado's ``IOStream`` (Tornado 6.x):
    ``_read_buffer``, ``_read_buffer_size``, ``_write_buffer`` and ``io_loop.remove_handler`` on
    the stream's socket. ``tests/transports/test_tornado_internals.py`` checks them on a real
    stream, so that a Tornado release that changes them fails a test rather than a takeover.

    The one other Tornado private relied on, ``RequestHandler._log``, is overridden by
    ``EngineIOHandler`` (peer-caused refusals stay out of the access log); tested there too."""

    @staticmethod
    def unread_bytes(stream: iostream.IOStream) -> bytes:
        """Bytes Tornado has read from the peer but nobody consumed yet (the first frames)."""
        return bytes(stream._read_buffer[: stream._read_buffer_size])

    @staticmethod
    def write_buffer_size(stream: iostream.IOStream) -> int:
        """Bytes written to ``stream`` that the kernel has not taken yet."""
        return len(stream._write_buffer)

    @staticmethod
    def take_socket(stream: iostream.IOStream) -> socket.socket | None:
        """Stop Tornado from watching the stream's socket and return it (the caller now owns
        it), or ``None`` when the stream is already closed (the peer reset or went away)."""
        sock = stream.socket
        if stream.closed() or sock is None or sock.fileno() < 0:
            return None
        stream.io_loop.remove_handler(sock)
        return sock
