"""``EngineConnection``: one Engine.IO v4 session seen from the client, over HTTP long-polling,
a WebSocket, or polling upgraded to a WebSocket.

As the official clients do, a session that starts on polling probes a WebSocket beside it
(``2probe`` → ``3probe``), then pauses polling (the pending GET ends, the POST in flight
finishes), sends ``5`` on the WebSocket and carries on there. The server's pings are answered
here; a silence longer than ``pingInterval + pingTimeout`` ends the session. Packets come and
go in the formats of :mod:`jupyter_rt.protocol.engineio`.

What a server can make this side hold is bounded: one polling response (at most
``max_message`` bytes, decoded) is read before the next GET is sent, and a WebSocket message is
capped at the same size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from tornado import websocket

from jupyter_rt._tasks import TaskKeeper
from jupyter_rt.client._dial import Endpoint, Handshake, parse_handshake, refusal
from jupyter_rt.client._http import HTTPClient, HTTPFailure
from jupyter_rt.errors import ConnectError, NotConnected, ProtocolError
from jupyter_rt.protocol import engineio
from jupyter_rt.protocol.events import DisconnectReason, Reason

__all__ = ["EngineClosed", "EngineConnection"]

log = logging.getLogger("jupyter_rt.client")

_PacketType = engineio.PacketType
_TEXT = "text/plain;charset=UTF-8"
_FAREWELLS = TaskKeeper()  # the CLOSE packets of dropped polling sessions, as they go


def _payload_size(packet: engineio.Packet) -> int:
    return len(engineio.utf8(engineio.encode_payload([packet])))


class EngineClosed(Exception):
    """The session is over; ``reason`` says why (a disconnect reason)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


_Entry = tuple[engineio.Packet, "asyncio.Future[None] | None"]
"""A packet waiting to be sent, and the future of the send it ends (``None`` inside one)."""


def wire_size(frame: str | bytes, transport: str) -> int:
    """The bytes ``frame`` (a MESSAGE's data) takes on ``transport``, as a server counts them
    against its ``maxPayload`` (binary goes as base64 on long-polling)."""
    if isinstance(frame, bytes):
        return len(frame) if transport == "websocket" else 1 + (len(frame) + 2) // 3 * 4
    return len(engineio.utf8(frame)) + 1


def check_fits(frames: Sequence[str | bytes], limit: int | None, transport: str) -> None:
    """Raise ValueError if a frame is over the server's ``maxPayload`` (``limit``)."""
    if limit is not None:
        for frame in frames:
            if (size := wire_size(frame, transport)) > limit:
                raise ValueError(f"a message of {size} bytes is over the server's {limit}")


class EngineConnection:
    """An open Engine.IO session: :meth:`receive` messages, :meth:`send` them, :meth:`close`.

    Make one with :meth:`open`. Only one task may call :meth:`receive` at a time; :meth:`send`
    may be called from any task of the loop, and keeps the order of the calls.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        transports: Sequence[str],
        *,
        max_message: int,
        connect_timeout: float,
    ) -> None:
        self._endpoint = endpoint
        self._transports = tuple(transports)
        self._max_message = max_message
        self._connect_timeout = connect_timeout
        self.handshake: Handshake | None = None
        self._transport = self._transports[0]
        self._http: HTTPClient | None = None
        self._ws: websocket.WebSocketClientConnection | None = None
        self._upgrade: websocket.WebSocketClientConnection | None = None  # probed, not used yet
        self._inbox: deque[engineio.Packet] = deque()
        self._outbox: deque[_Entry] = deque()
        self._writer: asyncio.Future[None] | None = None
        self._paused = False
        self._reason: Reason | None = None
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks = TaskKeeper()
        self._probing: asyncio.Future[None] | None = None  # the upgrade probe, while it runs
        self._probe_pinged = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def transport(self) -> str:
        """``"polling"`` or ``"websocket"``: the transport in use."""
        return self._transport

    @property
    def sid(self) -> str:
        """The Engine.IO session id."""
        assert self.handshake is not None
        return self.handshake.sid

    @property
    def closed(self) -> bool:
        return self._reason is not None

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        transports: Sequence[str],
        *,
        max_message: int,
        connect_timeout: float,
    ) -> EngineConnection:
        """Open a session on the first of ``transports``; from polling, upgrade to a WebSocket
        when ``transports`` and the server allow it. Raises :class:`ConnectError`."""
        self = cls(endpoint, transports, max_message=max_message, connect_timeout=connect_timeout)
        if self._transport == "websocket":
            await self._open_websocket()
        else:
            await self._open_polling()
            assert self.handshake is not None
            if "websocket" in self._transports and "websocket" in self.handshake.upgrades:
                self._probing = self._tasks.spawn(self._probe())
        return self

    async def _open_websocket(self) -> None:
        ws = await self._endpoint.open_websocket(self._max_message)
        try:
            frame = await asyncio.wait_for(ws.read_message(), self._connect_timeout)
        except asyncio.TimeoutError:
            ws.close()
            raise ConnectError("no Engine.IO handshake from the server") from None
        try:
            if frame is None:
                raise ConnectError("the connection closed before the handshake")
            self.handshake = parse_handshake(engineio.decode_frame(frame))
        except (ConnectError, ProtocolError) as exc:
            ws.close()
            raise ConnectError(f"bad Engine.IO handshake: {exc}") from None
        self._ws = ws

    async def _open_polling(self) -> None:
        endpoint = self._endpoint
        self._http = endpoint.http_client(self._max_message)
        try:
            response = await self._http.request(
                "GET", endpoint.target("polling"), dict(endpoint.headers), timeout=endpoint.timeout
            )
        except HTTPFailure as exc:
            if exc.status is not None:
                raise refusal(endpoint.display, exc.status, exc.detail) from None
            raise ConnectError(f"{endpoint.display}: {exc}") from None
        try:
            packets = engineio.decode_payload(response.body, max_bytes=self._max_message)
        except ProtocolError as exc:
            raise ConnectError(f"bad Engine.IO handshake: {exc}") from None
        self.handshake = parse_handshake(packets[0])
        self._inbox.extend(packets[1:])

    async def _probe(self) -> None:
        """Open the WebSocket of this session and check it answers ``2probe``."""
        try:
            ws = await self._endpoint.open_websocket(self._max_message, self.sid)
        except ConnectError as exc:
            log.info("Staying on long-polling: %s", exc)
            return
        assert self.handshake is not None
        try:
            await ws.write_message("2probe")
            self._probe_pinged = True
            # Polling waits for this answer (see receive): not longer than the server waits.
            timeout = min(self._connect_timeout, self.handshake.ping_timeout)
            frame = await asyncio.wait_for(ws.read_message(), timeout)
            if frame != "3probe":
                raise ProtocolError(f"the probe got {frame!r:.40} back")
        except (asyncio.TimeoutError, websocket.WebSocketClosedError, ProtocolError) as exc:
            ws.close()
            log.info("Staying on long-polling: the upgrade probe failed (%s)", exc or "timeout")
            return
        if self.closed:
            ws.close()
        else:
            self._upgrade = ws  # used once the pending GET returns (see _switch)

    async def _switch(self) -> None:
        """Move to the probed WebSocket: pause polling, send ``5``, send what waited there."""
        ws, self._upgrade = self._upgrade, None
        assert ws is not None
        self._paused = True
        try:
            if self._writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._writer)
            if self.closed:
                ws.close()
                return
            try:
                await ws.write_message(engineio.encode_frame(engineio.Packet(_PacketType.UPGRADE)))
            except websocket.WebSocketClosedError:
                log.info("Staying on long-polling: the upgraded WebSocket closed")
                return
            self._ws = ws
            self._transport = "websocket"
            if self._http is not None:
                self._http.abort()
                self._http = None
            log.debug("Engine.IO session upgraded to a WebSocket")
        finally:
            self._paused = False
            self._kick()

    # -- receiving -----------------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The data of the next MESSAGE packet; answers pings on the way. Raises
        :class:`EngineClosed` once the session is over."""
        while True:
            while self._inbox and self._reason is None:  # nothing more once it is over
                packet = self._inbox.popleft()
                kind = packet.type
                if kind is _PacketType.MESSAGE:
                    return packet.data
                if kind is _PacketType.PING:
                    self._tasks.spawn(
                        self._send_quietly([engineio.Packet(_PacketType.PONG, packet.data)])
                    )
                elif kind is _PacketType.CLOSE:
                    # As for the official clients, the end of the transport, not of the
                    # sockets (a server that means it sends each namespace a DISCONNECT).
                    self._end(DisconnectReason.TRANSPORT_CLOSE)
                elif kind is _PacketType.OPEN or kind is _PacketType.UPGRADE:
                    log.warning("Closing the connection: %s packet from the server", kind.name)
                    self._end(DisconnectReason.PARSE_ERROR)
                # NOOP and PONG need nothing.
            if self._reason is not None:
                raise EngineClosed(self._reason)
            if self._transport == "websocket":
                await self._read_frame()
            elif self._upgrade is not None:
                await self._switch()
            elif self._probe_pinged and self._probing is not None and not self._probing.done():
                # The server answers polling with NOOP until the upgrade ends: wait for it.
                await asyncio.wait(
                    {self._probing, self._ended}, return_when=asyncio.FIRST_COMPLETED
                )
            else:
                await self._poll()

    def _silence_limit(self) -> float:
        assert self.handshake is not None
        return self.handshake.ping_interval + self.handshake.ping_timeout

    async def _poll(self) -> None:
        http = self._http
        assert http is not None
        endpoint = self._endpoint
        get = asyncio.ensure_future(
            http.request(
                "GET",
                endpoint.target("polling", self.sid),
                dict(endpoint.headers),
                timeout=self._silence_limit(),
            )
        )
        either: set[asyncio.Future[Any]] = {get, self._ended}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if self._ended.done():
            get.cancel()
            return
        try:
            body = get.result().body
        except HTTPFailure as exc:
            if not self.closed:
                log.info("Polling GET failed: %s", exc)
            timed_out = exc.timed_out
            self._end(
                DisconnectReason.PING_TIMEOUT if timed_out else DisconnectReason.TRANSPORT_ERROR
            )
            return
        try:
            self._inbox.extend(engineio.decode_payload(body, max_bytes=self._max_message))
        except ProtocolError as exc:
            log.warning("Closing the connection: %s", exc)
            self._end(DisconnectReason.PARSE_ERROR)

    async def _read_frame(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            frame = await asyncio.wait_for(ws.read_message(), self._silence_limit())
        except asyncio.TimeoutError:
            self._end(DisconnectReason.PING_TIMEOUT)
            return
        if frame is None:
            self._end(DisconnectReason.TRANSPORT_CLOSE)
            return
        try:
            self._inbox.append(engineio.decode_frame(frame))
        except ProtocolError as exc:
            log.warning("Closing the connection: %s", exc)
            self._end(DisconnectReason.PARSE_ERROR)

    # -- sending -------------------------------------------------------------------------------

    async def send(self, frames: Sequence[str | bytes]) -> None:
        """Send MESSAGE packets with ``frames`` as their data, in order; return once they are
        written (a WebSocket) or posted (polling). Raises :class:`NotConnected` if the session
        ends first."""
        await self._send([engineio.Packet(_PacketType.MESSAGE, frame) for frame in frames])

    def send_nowait(self, frames: Sequence[str | bytes]) -> None:
        """:meth:`send` for code that cannot await: queued at once, in order with every other
        send. Raises :class:`NotConnected` if the session has ended."""
        if self._reason is not None:
            raise NotConnected("the connection is closed")
        packets = [engineio.Packet(_PacketType.MESSAGE, frame) for frame in frames]
        if self._transport == "websocket" and not self._outbox and not self._paused:
            ws = self._ws
            assert ws is not None
            try:
                for packet in packets:
                    frame = engineio.encode_frame(packet)
                    ws.write_message(frame, binary=isinstance(frame, bytes)).add_done_callback(
                        _retrieve
                    )
            except websocket.WebSocketClosedError:
                self._end(DisconnectReason.TRANSPORT_CLOSE)
                raise NotConnected("the connection is closed") from None
            return
        self._outbox.extend((packet, None) for packet in packets)
        self._kick()

    async def _send(self, packets: list[engineio.Packet]) -> None:
        if self._reason is not None:
            raise NotConnected("the connection is closed")
        if self._transport == "websocket" and not self._outbox and not self._paused:
            await self._write_websocket(packets)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._outbox.extend((packet, None) for packet in packets[:-1])
        self._outbox.append((packets[-1], done))
        self._kick()
        await done

    async def _send_quietly(self, packets: list[engineio.Packet]) -> None:
        with contextlib.suppress(NotConnected):  # the reader sees the end of the session
            await self._send(packets)

    async def _write_websocket(self, packets: Sequence[engineio.Packet]) -> None:
        ws = self._ws
        assert ws is not None
        last = None
        try:
            for packet in packets:
                frame = engineio.encode_frame(packet)
                last = ws.write_message(frame, binary=isinstance(frame, bytes))
            if last is not None:
                await last
        except websocket.WebSocketClosedError:
            self._end(DisconnectReason.TRANSPORT_CLOSE)
            raise NotConnected("the connection is closed") from None

    def _kick(self) -> None:
        if self._outbox and (self._writer is None or self._writer.done()):
            self._writer = self._tasks.spawn(self._write_outbox())

    async def _write_outbox(self) -> None:
        """Send what waits in the outbox: in one go on a WebSocket, or as POSTs of at most the
        server's ``maxPayload`` bytes, one at a time, while polling."""
        while self._outbox and not self._paused and self._reason is None:
            batch = self._take_batch()
            try:
                if self._transport == "websocket":
                    await self._write_websocket([packet for packet, _ in batch])
                else:
                    await self._post([packet for packet, _ in batch])
            except NotConnected as exc:
                for _, done in batch:
                    if done is not None and not done.done():
                        done.set_exception(NotConnected(str(exc)))
                return
            for _, done in batch:
                if done is not None and not done.done():
                    done.set_result(None)

    def _take_batch(self) -> list[_Entry]:
        outbox = self._outbox
        if self._transport == "websocket":
            batch = list(outbox)
            outbox.clear()
            return batch
        assert self.handshake is not None
        limit = self.handshake.max_payload or self._max_message
        batch = [outbox.popleft()]
        size = _payload_size(batch[0][0])
        while outbox and size + 1 + _payload_size(outbox[0][0]) <= limit:
            size += 1 + _payload_size(outbox[0][0])
            batch.append(outbox.popleft())
        return batch

    async def _post(self, packets: Sequence[engineio.Packet]) -> None:
        http = self._http
        assert http is not None
        endpoint = self._endpoint
        headers = {**endpoint.headers, **endpoint.post_headers, "Content-Type": _TEXT}
        body = engineio.utf8(engineio.encode_payload(packets))
        try:
            await http.request(
                "POST",
                endpoint.target("polling", self.sid),
                headers,
                body=body,
                timeout=self._silence_limit(),
            )
        except HTTPFailure as exc:
            if not self.closed:
                log.info("Polling POST failed: %s", exc)
            self._end(DisconnectReason.TRANSPORT_ERROR)
            raise NotConnected(f"the connection is closed ({exc})") from None

    # -- closing -------------------------------------------------------------------------------

    async def close(self) -> None:
        """End the session and tell the server (a CLOSE packet on polling, the WebSocket's
        closing handshake), after what was sent before."""
        if self._reason is not None:
            return
        if self._transport == "polling":
            with contextlib.suppress(NotConnected, asyncio.TimeoutError):
                await asyncio.wait_for(self._send([engineio.CLOSE]), self._connect_timeout)
        self._end(DisconnectReason.IO_CLIENT_DISCONNECT)

    def drop(self) -> None:
        """End the session at once, as socket.io-client's ``engine.close()`` does: the
        WebSocket is closed, or on polling a CLOSE packet is posted, so that the server sees the
        transport go (the sockets stay, with no DISCONNECT); :meth:`receive` then raises
        :class:`EngineClosed` with ``"transport close"``."""
        if self._reason is not None:
            return
        http = self._http
        if self._transport == "polling" and http is not None:
            self._http = None  # left to the farewell, which aborts it after
            _FAREWELLS.spawn(self._farewell(http))
        self._end(DisconnectReason.TRANSPORT_CLOSE)

    async def _farewell(self, http: HTTPClient) -> None:
        endpoint = self._endpoint
        headers = {**endpoint.headers, **endpoint.post_headers, "Content-Type": _TEXT}
        try:
            await http.request(
                "POST",
                endpoint.target("polling", self.sid),
                headers,
                body=engineio.encode_payload([engineio.CLOSE]).encode(),
                timeout=self._connect_timeout,
            )
        except HTTPFailure:
            pass
        finally:
            http.abort()

    def _end(self, reason: Reason) -> None:
        if self._reason is not None:
            return
        self._reason = reason
        if not self._ended.done():
            self._ended.set_result(None)
        for ws in (self._ws, self._upgrade):
            if ws is not None:
                ws.close()
        self._upgrade = None
        if self._http is not None:
            self._http.abort()
        while self._outbox:
            _, done = self._outbox.popleft()
            if done is not None and not done.done():
                done.set_exception(NotConnected(f"the connection is closed ({reason})"))
        self._tasks.cancel_all()


def _retrieve(write: asyncio.Future[None]) -> None:
    """A write nobody awaits: its failure (the connection closed) is the reader's to notice."""
    if not write.cancelled():
        write.exception()
