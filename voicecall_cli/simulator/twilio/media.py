"""Twilio's side of a bidirectional Media Stream, for tests, benchmarks and the demo.

:func:`open_twilio_media_stream` connects to a stream URL with trio-websocket and behaves like
Twilio after ``<Connect><Stream>``: it sends ``connected`` and ``start`` (streamSid, callSid,
``customParameters`` with the token, mediaFormat audio/x-mulaw 8000 Hz mono), then
:meth:`TwilioMediaStream.send_audio` sends real 20 ms mu-law ``media`` frames at real-time pace
(absolute schedule) from a WAV file, raw mu-law bytes or a :class:`Tone`.

This module is Twilio's framing only; the conversation (recording, the playout buffer that
echoes marks once the audio before them has played, ``clear``, :func:`media_stats`, the
connection and its cleanup) is :mod:`voicecall_cli.simulator.media`'s, whose public names are
re-exported here.

Resource handling: as :func:`voicecall_cli.simulator.media.open_media_connection`: the context
manager owns the connection and its tasks; on exit it sends ``stop`` (if the stream started and
is still open) and closes the socket. A refused upgrade raises
``trio_websocket.ConnectionRejected`` from the ``async with``.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from voicecall_cli.simulator.media import (
    FRAME_S,
    AudioInput,
    CarrierMediaStream,
    FrameKind,
    MediaStats,
    ReceivedMedia,
    Tone,
    load_mulaw,
    media_stats,
    open_media_connection,
    percentile,
)

__all__ = ["FRAME_S", "AudioInput", "MediaStats", "ReceivedMedia", "Tone", "TwilioMediaStream",
           "load_mulaw", "media_stats", "open_twilio_media_stream", "percentile"]


class TwilioMediaStream(CarrierMediaStream):
    """One connected stream (see the module docstring); made by :func:`open_twilio_media_stream`.

    Recorded as :class:`~voicecall_cli.simulator.media.CarrierMediaStream` records: ``messages``,
    ``media``, ``marks_echoed``, ``clears``, ``close_code``/``close_reason``.
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery, *,
                 call_sid: str, stream_sid: str, account_sid: str, echo_marks: bool) -> None:
        super().__init__(ws, nursery, echo_marks=echo_marks)
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.account_sid = account_sid

    # -- what Twilio sends ---------------------------------------------------------------------

    async def send_connected(self) -> None:
        await self.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})

    async def send_start(self, *, token: str | None,
                         custom_parameters: dict[str, str] | None = None) -> None:
        params = dict(custom_parameters or {})
        if token is not None:
            params["token"] = token
        await self.send_json({
            "event": "start", "sequenceNumber": self._next_sequence(),
            "start": {"accountSid": self.account_sid, "streamSid": self.stream_sid,
                      "callSid": self.call_sid, "tracks": ["inbound"],
                      "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                      "channels": 1},
                      "customParameters": params},
            "streamSid": self.stream_sid})
        self.started = True

    def media_frame(self, payload: bytes, index: int) -> dict[str, Any]:
        return {"event": "media", "sequenceNumber": self._next_sequence(),
                "media": {"track": "inbound", "chunk": str(index + 1),
                          "timestamp": str(index * 20),
                          "payload": base64.b64encode(payload).decode("ascii")},
                "streamSid": self.stream_sid}

    def mark_frame(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid, "mark": {"name": name}}

    async def send_dtmf(self, digit: str) -> None:
        """The caller pressed a key (Twilio sends ``dtmf`` on bidirectional streams)."""
        await self.send_json({"event": "dtmf", "streamSid": self.stream_sid,
                              "sequenceNumber": self._next_sequence(),
                              "dtmf": {"track": "inbound_track", "digit": digit}})

    def stop_frame(self) -> dict[str, Any]:
        return {"event": "stop", "sequenceNumber": self._next_sequence(),
                "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}

    # -- what the app sends --------------------------------------------------------------------

    def classify(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        event = message.get("event")
        if event == "media":
            return "media", base64.b64decode(message["media"]["payload"])
        if event == "mark":
            return "mark", message["mark"]["name"]
        if event == "clear":
            return "clear", None
        return "other", None


@asynccontextmanager
async def open_twilio_media_stream(
    url: str, *, call_sid: str, token: str | None, stream_sid: str | None = None,
    account_sid: str = "AC" + "0" * 32, send_start: bool = True, echo_marks: bool = True,
    custom_parameters: dict[str, str] | None = None, local_address: str | None = None,
    connect_timeout_s: float = 10.0,
) -> AsyncIterator[TwilioMediaStream]:
    """Connect to ``url`` (ws://host:port/path) as Twilio would; see the module docstring.

    ``send_start=False`` stops after ``connected`` (an idle or impostor socket);
    ``local_address`` binds the client side to another loopback address (127.0.0.2, ...) to
    stand for a different caller IP.
    """
    def build(ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery) -> TwilioMediaStream:
        return TwilioMediaStream(ws, nursery, call_sid=call_sid,
                                 stream_sid=stream_sid or "MZ" + secrets.token_hex(16),
                                 account_sid=account_sid, echo_marks=echo_marks)

    async def handshake(stream: TwilioMediaStream) -> None:
        await stream.send_connected()
        if send_start:
            await stream.send_start(token=token, custom_parameters=custom_parameters)

    async with open_media_connection(url, build, handshake=handshake, local_address=local_address,
                                     connect_timeout_s=connect_timeout_s) as stream:
        yield stream
