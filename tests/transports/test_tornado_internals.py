"""Every Tornado private attribute the transports use, checked on a real stream."""

from __future__ import annotations

import asyncio


async def test_tornado_stream_internals_still_exist() -> None:
    # The private IOStream attributes the WebSocket takeover relies on, on a real stream: a
    # Tornado release that renames them fails here, not in production.
    import socket

    from tornado.iostream import IOStream

    from jupyter_rt.transports import TornadoStreamInternals

    ours, peer = socket.socketpair()
    stream = IOStream(ours)
    try:
        peer.sendall(b"GET / HTTP/1.1\r\n\r\nfirst frame")
        assert await stream.read_until(b"\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"
        assert isinstance(stream._read_buffer, bytearray)
        assert isinstance(stream._read_buffer_size, int)
        assert len(stream._write_buffer) == 0
        assert TornadoStreamInternals.unread_bytes(stream) == b"first frame"
        assert TornadoStreamInternals.write_buffer_size(stream) == 0
        assert TornadoStreamInternals.take_socket(stream) is ours  # io_loop.remove_handler
        peer.sendall(b"more")  # no longer read by Tornado
        await asyncio.sleep(0.05)
        assert TornadoStreamInternals.unread_bytes(stream) == b"first frame"
        stream.close()
        assert TornadoStreamInternals.take_socket(stream) is None
    finally:
        stream.close()
        peer.close()


def test_the_old_module_path_still_works_with_a_deprecation_warning() -> None:
    import pytest

    import jupyter_rt.tornado
    from jupyter_rt import transports

    with pytest.warns(DeprecationWarning, match=r"jupyter_rt\.transports\.mount"):
        assert jupyter_rt.tornado.mount is transports.mount
    with pytest.raises(AttributeError):
        _ = jupyter_rt.tornado.nothing_here


def test_the_request_handler_still_logs_through_its_private_log_method() -> None:
    # EngineIOHandler overrides RequestHandler._log to keep 503 refusals out of the access log.
    import inspect

    from tornado import web

    assert "self._log()" in inspect.getsource(web.RequestHandler.finish)
