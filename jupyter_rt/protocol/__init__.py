"""The wire formats, as pure functions and small state machines: no I/O, no clock.

``engineio`` holds Engine.IO v4 packets and polling payloads; ``socketio`` holds Socket.IO v5
packets with their binary attachments. Every malformed input raises
:class:`jupyter_rt.errors.ProtocolError`.
"""
