"""A test app beside the built-in ``/chat``, for the browser's recovery test
(``c.RealtimeApp.apps = [..., "tests.browser.recovery_app:setup"]``).

``/chat-probe``: ``drop sid`` closes the transport under the ``/chat`` socket ``sid`` as a failed
network does (no CLOSE packet; acks whether that socket was still connected); ``recovered`` acks the
ids of the ``/chat`` sockets that came back recovered, in order.
"""

from __future__ import annotations

from jupyter_rt.server import Server, Socket

NAMESPACE = "/chat-probe"


def setup(io: Server) -> None:
    chat = io.of("/chat")
    recovered: list[str] = []

    @chat.on("connection")
    def on_chat(socket: Socket) -> None:
        if socket.recovered:
            recovered.append(socket.id)

    @io.of(NAMESPACE).on("connection")
    def on_connection(socket: Socket) -> None:
        @socket.on("drop")
        def drop(sid: object) -> bool:
            target = chat.sockets.get(sid) if isinstance(sid, str) else None
            if target is None:
                return False
            target.conn.close("transport close", notify=False)
            return True

        @socket.on("recovered")
        def recovered_ids() -> list[str]:
            return recovered
