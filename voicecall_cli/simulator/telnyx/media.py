"""Telnyx's side of a media streaming websocket, for tests, benchmarks and the demo.

:func:`open_telnyx_media_stream` connects to a ``stream_url`` as Telnyx does once a call with
streaming is answered: the upgrade request carries ``x-telnyx-streaming-auth-token`` when a
``stream_auth_token`` was given; then it sends ``connected`` (``version`` 1.0.0, plus the token
field when there is one) and ``start`` (``stream_id``, ``start.call_control_id``,
``call_session_id``, ``from``, ``to``, ``client_state``, ``media_format`` PCMU 8000 Hz mono),
and :meth:`TelnyxMediaStream.send_audio` sends 20 ms ``media`` frames (track ``inbound``)
at real-time pace. ``sequence_number`` counts every frame sent (``start`` is 1), ``media.chunk``
counts media frames and ``media.timestamp`` is the frame's offset in ms from the stream's start
(all strings, as on Telnyx).

Frame order is not guaranteed on Telnyx: with ``reorder_every=N`` every N-th media frame is held
back and sent right after the next one (the pair arrives swapped, each with its own chunk,
timestamp and sequence number). :meth:`TelnyxMediaStream.send_audio` never returns with a frame
held; :meth:`TelnyxMediaStream.send_media` (one frame at a time) may, until the next frame or
``stop``.

From the app it understands ``media`` (``media.payload``, base64 mu-law), ``mark`` and
``clear``. Audio is played (and marks echoed after it, as ``{"event": "mark",
"sequence_number", "stream_id", "mark": {"name"}}``) only in bidirectional RTP mode
(``bidirectional=True``); otherwise it is dropped and recorded as an error, as a call without
``stream_bidirectional_mode: "rtp"`` is one-way on Telnyx.

Resource handling: as :func:`voicecall_cli.simulator.media.open_media_connection` (the shared
base owns the connection, the reader and the mark echoes; a normal exit sends ``stop``).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from voicecall_cli.simulator.media import (
    AudioInput,
    CarrierMediaStream,
    FrameKind,
    Tone,
    open_media_connection,
)

__all__ = ["AUTH_TOKEN_HEADER", "AudioInput", "TelnyxMediaStream", "Tone",
           "open_telnyx_media_stream"]

AUTH_TOKEN_HEADER = "x-telnyx-streaming-auth-token"


class TelnyxMediaStream(CarrierMediaStream):
    """One connected stream (see the module docstring); made by :func:`open_telnyx_media_stream`.

    Recorded beyond the shared ones (``messages``, ``media``, ``dropped``, ``marks_echoed``,
    ``clears``, ``errors``, ``close_code``/``close_reason``): ``reordered``, the chunk numbers
    that were sent late (after their successor).
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery, *,
                 call_control_id: str, call_session_id: str, stream_id: str, user_id: str,
                 from_: str, to: str, echo_marks: bool, bidirectional: bool,
                 reorder_every: int | None) -> None:
        super().__init__(ws, nursery, echo_marks=echo_marks)
        if reorder_every is not None and reorder_every < 2:
            raise ValueError("reorder_every must be at least 2 (or None)")
        self.call_control_id = call_control_id
        self.call_session_id = call_session_id
        self.stream_id = stream_id
        self.user_id = user_id
        self.from_ = from_
        self.to = to
        self.plays_audio = bidirectional
        self.reorder_every = reorder_every
        self.reordered: list[int] = []
        self._chunks = 0  # media frames built so far
        self._held: dict[str, Any] | None = None  # a frame waiting to go after its successor

    # -- what Telnyx sends ---------------------------------------------------------------------

    async def send_connected(self, token: str | None = None) -> None:
        message: dict[str, Any] = {"event": "connected", "version": "1.0.0"}
        if token is not None:
            message[AUTH_TOKEN_HEADER] = token
        await self.send_json(message)

    async def send_start(self, *, client_state: str | None,
                         custom_parameters: dict[str, str] | None = None) -> None:
        await self.send_json({
            "event": "start", "sequence_number": self._next_sequence(),
            "start": {"user_id": self.user_id, "call_control_id": self.call_control_id,
                      "call_session_id": self.call_session_id, "from": self.from_,
                      "to": self.to, "tags": [], "client_state": client_state,
                      "custom_parameters": dict(custom_parameters or {}),
                      "media_format": {"encoding": "PCMU", "sample_rate": 8000,
                                       "channels": 1}},
            "stream_id": self.stream_id})
        self.started = True

    async def send_audio(self, audio: AudioInput, *, realtime: bool = True) -> int:
        sent = await super().send_audio(audio, realtime=realtime)
        await self.flush()
        return sent

    async def send_media(self, payload: bytes, index: int = 0) -> None:
        """Send one 20 ms frame, or hold it back to swap it with the next (``reorder_every``)."""
        frame = self.media_frame(payload, index)
        if self._held is not None:
            held, self._held = self._held, None
            await self.send_json(frame)
            await self.send_json(held)
            return
        if self.reorder_every is not None and self._chunks % self.reorder_every == 0:
            self._held = frame
            self.reordered.append(self._chunks)
            return
        await self.send_json(frame)

    async def flush(self) -> None:
        """Send a held-back frame now."""
        if self._held is not None:
            held, self._held = self._held, None
            await self.send_json(held)

    async def send_stop(self) -> None:
        await self.flush()
        await super().send_stop()

    async def send_dtmf(self, digit: str) -> None:
        await self.send_json({"event": "dtmf", "sequence_number": self._next_sequence(),
                              "dtmf": {"digit": digit}, "stream_id": self.stream_id})

    async def send_error(self, code: int, title: str, detail: str) -> None:
        await self.send_json({"event": "error", "sequence_number": self._next_sequence(),
                              "payload": {"code": code, "title": title, "detail": detail},
                              "stream_id": self.stream_id})

    def media_frame(self, payload: bytes, index: int) -> dict[str, Any]:
        self._chunks += 1
        return {"event": "media", "sequence_number": self._next_sequence(),
                "media": {"track": "inbound", "chunk": str(self._chunks),
                          "timestamp": str((self._chunks - 1) * 20),
                          "payload": base64.b64encode(payload).decode("ascii")},
                "stream_id": self.stream_id}

    def mark_frame(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "sequence_number": self._next_sequence(),
                "stream_id": self.stream_id, "mark": {"name": name}}

    def stop_frame(self) -> dict[str, Any]:
        return {"event": "stop", "sequence_number": self._next_sequence(),
                "stop": {"user_id": self.user_id, "call_control_id": self.call_control_id},
                "stream_id": self.stream_id}

    # -- what the app sends --------------------------------------------------------------------

    def classify(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        event = message.get("event")
        try:
            if event == "media":
                return "media", base64.b64decode(message["media"]["payload"], validate=True)
            if event == "mark":
                return "mark", str(message["mark"]["name"])
        except (KeyError, TypeError, binascii.Error) as exc:
            self.errors.append(f"malformed {event} frame from the app: {exc!r}")
            return "other", None
        if event == "clear":
            return "clear", None
        self.errors.append(f"unexpected frame from the app: {event!r}")
        return "other", None


@asynccontextmanager
async def open_telnyx_media_stream(
    url: str, *, call_control_id: str, token: str | None, client_state: str | None = None,
    stream_id: str | None = None, call_session_id: str | None = None,
    user_id: str | None = None, from_: str = "", to: str = "", echo_marks: bool = True,
    send_start: bool = True, bidirectional: bool = True, reorder_every: int | None = None,
    custom_parameters: dict[str, str] | None = None, local_address: str | None = None,
    connect_timeout_s: float = 10.0,
) -> AsyncIterator[TelnyxMediaStream]:
    """Connect to ``url`` (ws://host:port/path) as Telnyx would; see the module docstring.

    ``token`` is the call's ``stream_auth_token`` (None: no header, no field);
    ``send_start=False`` stops after ``connected``; ``local_address`` binds the client side to
    another loopback address (127.0.0.2, ...) to stand for a different Telnyx IP.
    """
    def build(ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery) -> TelnyxMediaStream:
        return TelnyxMediaStream(
            ws, nursery, call_control_id=call_control_id,
            call_session_id=call_session_id or str(uuid.uuid4()),
            stream_id=stream_id or str(uuid.uuid4()), user_id=user_id or str(uuid.uuid4()),
            from_=from_, to=to, echo_marks=echo_marks, bidirectional=bidirectional,
            reorder_every=reorder_every)

    async def handshake(stream: TelnyxMediaStream) -> None:
        await stream.send_connected(token)
        if send_start:
            await stream.send_start(client_state=client_state,
                                    custom_parameters=custom_parameters)

    headers = [(AUTH_TOKEN_HEADER.encode(), token.encode())] if token is not None else None
    async with open_media_connection(url, build, handshake=handshake, extra_headers=headers,
                                     local_address=local_address,
                                     connect_timeout_s=connect_timeout_s) as stream:
        yield stream
