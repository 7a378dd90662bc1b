"""Realtime apps shipped with jupyter_rt, on by default in the Jupyter extension.

An app is a function that takes the :class:`~jupyter_rt.Server` and registers handlers; list it
in ``c.RealtimeApp.apps`` as ``"module:function"``. Each module here is a short model of one:

- :mod:`jupyter_rt.apps.tick`: ``/tick``, a counter pushed every second (the proof of concept).
- :mod:`jupyter_rt.apps.chat`: ``/chat``, multi-room chat with nicknames.
- :mod:`jupyter_rt.apps.hub`: ``/hub``, rooms driven by clients, with no server code of yours.
"""
