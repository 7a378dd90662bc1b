"""Deprecated: the Redis wire format lives in :mod:`jupyter_rt.adapters.redis.wire` now.

Importing this module warns (``DeprecationWarning``) and gives the same names.
"""

from __future__ import annotations

import warnings

from jupyter_rt.adapters.redis.wire import (
    DEFAULT_PREFIX,
    EMITTER_UID,
    BroadcastMessage,
    Channels,
    Request,
    RequestType,
    Response,
    SocketDetails,
    WireError,
    decode_broadcast,
    decode_options,
    decode_packet,
    decode_request,
    decode_response,
    encode_broadcast,
    encode_options,
    encode_packet,
    encode_request,
    encode_response,
    new_id,
    pack,
    room_list,
    unpack,
)

__all__ = [
    "DEFAULT_PREFIX",
    "EMITTER_UID",
    "BroadcastMessage",
    "Channels",
    "Request",
    "RequestType",
    "Response",
    "SocketDetails",
    "WireError",
    "decode_broadcast",
    "decode_options",
    "decode_packet",
    "decode_request",
    "decode_response",
    "encode_broadcast",
    "encode_options",
    "encode_packet",
    "encode_request",
    "encode_response",
    "new_id",
    "pack",
    "room_list",
    "unpack",
]

warnings.warn(
    "jupyter_rt.adapters.redis_wire is deprecated; import from jupyter_rt.adapters.redis.wire",
    DeprecationWarning,
    stacklevel=2,
)
