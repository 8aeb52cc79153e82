"""Plivo's side of an audio stream (``<Stream>``), for tests, benchmarks and the demo.

:func:`open_plivo_media_stream` connects to the stream URL as Plivo does (a plain websocket,
no subprotocol, no greeting frame) and sends ``start``: ``{"event": "start", "sequenceNumber":
1, "start": {"callId", "streamId", "accountId", "tracks", "mediaFormat": {"encoding",
"sampleRate"}}, "extra_headers": "<the element's extraHeaders, verbatim>"}``. Then
:meth:`PlivoMediaStream.send_audio` sends 20 ms ``media`` frames (``media.track``,
``media.timestamp`` (ms since the start, a string), ``media.chunk``, ``media.payload``) at
real-time pace, and :meth:`PlivoMediaStream.send_dtmf` ``dtmf`` frames. ``sequenceNumber``
counts every frame Plivo sends (integers). The audio follows the element's ``contentType``:
mu-law 8 kHz, or 16-bit little-endian linear PCM at 8 or 16 kHz (a client that forgot
``contentType`` gets L16 and hears noise, as on Plivo).

From the app it understands ``playAudio`` (``media.contentType`` and ``media.sampleRate`` must
match the stream's, else the frame is recorded as an error and ignored), ``checkpoint``
(answered with ``playedStream`` once the audio received before it has played) and
``clearAudio`` (the buffer is dropped; ``clearedAudio`` answers, then ``playedStream`` for the
checkpoints that were waiting). ``checkpoint`` and ``clearAudio`` must name the stream's
``streamId``. Anything else is recorded as an error. Plivo sends no ``stop`` frame: a stream
ends when the socket closes.

Resource handling: as :func:`voicecall_cli.simulator.media.open_media_connection` (the shared
base owns the connection, the reader and the checkpoint echoes), except that nothing is sent on
exit: leaving the context manager closes the socket.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import numpy as np
import soxr
import trio
import trio_websocket

from voicecall_cli.providers.audio import mulaw_decode, mulaw_encode, resample_pcm16
from voicecall_cli.simulator.media import (
    AudioInput,
    CarrierMediaStream,
    FrameKind,
    Tone,
    open_media_connection,
)

__all__ = ["CONTENT_TYPES", "AudioInput", "PlivoMediaStream", "Tone", "media_format",
           "open_plivo_media_stream"]

CONTENT_TYPES = {"audio/x-mulaw;rate=8000": ("audio/x-mulaw", 8000),
                 "audio/x-l16;rate=8000": ("audio/x-l16", 8000),
                 "audio/x-l16;rate=16000": ("audio/x-l16", 16000)}


def media_format(content_type: str) -> tuple[str, int]:
    """``(encoding, sample rate)`` of a ``<Stream contentType>``; ``ValueError`` if unknown."""
    try:
        return CONTENT_TYPES[content_type]
    except KeyError:
        raise ValueError(f"unknown stream contentType {content_type!r}") from None


def _mulaw_to_l16(mulaw: bytes, rate: int) -> bytes:
    pcm = mulaw_decode(mulaw)
    if rate == 8000:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    return soxr.resample(samples, 8000, rate).astype("<i2").tobytes()


class PlivoMediaStream(CarrierMediaStream):
    """One connected stream (see the module docstring); made by :func:`open_plivo_media_stream`.

    Recorded beyond the shared ones (``messages``, ``media`` (as mu-law), ``dropped``,
    ``marks_echoed`` (checkpoint names answered with ``playedStream``), ``clears``, ``errors``,
    ``close_code``/``close_reason``): ``dtmf_sent``, the digits the app asked Plivo to send.
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery, *,
                 call_uuid: str, stream_id: str, account_id: str, extra_headers: str,
                 content_type: str, bidirectional: bool, audio_track: str,
                 echo_marks: bool) -> None:
        super().__init__(ws, nursery, echo_marks=echo_marks)
        self.call_uuid = call_uuid
        self.stream_id = stream_id
        self.account_id = account_id
        self.extra_headers = extra_headers
        self.content_type = content_type
        self.encoding, self.sample_rate = media_format(content_type)
        self.audio_track = audio_track
        self.plays_audio = bidirectional
        self.dtmf_sent: list[str] = []
        self._chunks = 0

    # -- what Plivo sends ----------------------------------------------------------------------

    def _sequence_number(self) -> int:
        return int(self._next_sequence())

    async def send_start(self) -> None:
        tracks = ["inbound", "outbound"] if self.audio_track == "both" else [self.audio_track]
        await self.send_json({
            "event": "start", "sequenceNumber": self._sequence_number(),
            "start": {"callId": self.call_uuid, "streamId": self.stream_id,
                      "accountId": self.account_id, "tracks": tracks,
                      "mediaFormat": {"encoding": self.encoding,
                                      "sampleRate": self.sample_rate}},
            "extra_headers": self.extra_headers})
        self.started = True

    def media_frame(self, payload: bytes, index: int) -> dict[str, Any]:
        """One 20 ms frame; ``payload`` is mu-law 8 kHz, re-encoded to the stream's format."""
        self._chunks += 1
        audio = payload if self.encoding == "audio/x-mulaw" else _mulaw_to_l16(
            payload, self.sample_rate)
        return {"event": "media", "sequenceNumber": self._sequence_number(),
                "streamId": self.stream_id,
                "media": {"track": "outbound" if self.audio_track == "outbound" else "inbound",
                          "timestamp": str((self._chunks - 1) * 20), "chunk": self._chunks,
                          "payload": base64.b64encode(audio).decode("ascii")},
                "extra_headers": self.extra_headers}

    async def send_dtmf(self, digit: str) -> None:
        await self.send_json({"event": "dtmf", "sequenceNumber": self._sequence_number(),
                              "streamId": self.stream_id,
                              "dtmf": {"track": "inbound", "digit": digit,
                                       "timestamp": str(self._chunks * 20)},
                              "extra_headers": self.extra_headers})

    async def send_media(self, payload: bytes, index: int = 0) -> None:
        """Send one 20 ms mu-law ``payload`` (one frame of silence, say) in the stream's
        format."""
        await super().send_media(payload, index)

    def mark_frame(self, name: str) -> dict[str, Any]:
        return {"event": "playedStream", "sequenceNumber": self._sequence_number(),
                "streamId": self.stream_id, "name": name}

    def cleared_frame(self) -> dict[str, Any]:
        return {"event": "clearedAudio", "sequenceNumber": self._sequence_number(),
                "streamId": self.stream_id}

    def stop_frame(self) -> dict[str, Any]:
        raise NotImplementedError("Plivo sends no stop frame: the socket just closes")

    async def send_stop(self) -> None:
        """Plivo ends a stream by closing the socket; nothing is sent."""
        self.stopped = True

    # -- what the app sends --------------------------------------------------------------------

    def kind_of(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        """What a frame from the app is, without acting on it: ``("media", mu-law)`` for a
        valid ``playAudio``, ``("mark", name)`` for a ``checkpoint``, ``("clear", None)`` for
        ``clearAudio``, else ``("other", why)`` (``why`` None for ``sendDTMF``)."""
        event = message.get("event")
        try:
            if event == "playAudio":
                return self._play_audio(message)
            if event in ("checkpoint", "clearAudio"):
                if message.get("streamId") != self.stream_id:
                    return "other", (f"{event} for streamId {message.get('streamId')!r}, "
                                     f"not this stream's {self.stream_id!r}")
                if event == "clearAudio":
                    return "clear", None
                name = message["name"]
                if not isinstance(name, str) or not name:
                    return "other", "checkpoint without a name"
                return "mark", name
            if event == "sendDTMF":
                return "other", None
        except (KeyError, TypeError, binascii.Error) as exc:
            return "other", f"malformed {event} frame from the app: {exc!r}"
        return "other", f"unexpected frame from the app: {event!r}"

    def _play_audio(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        media = message["media"]
        stream_id = message.get("streamId")
        if stream_id is not None and stream_id != self.stream_id:
            return "other", f"playAudio for streamId {stream_id!r}, not {self.stream_id!r}"
        given = (media.get("contentType"), media.get("sampleRate"))
        if given != (self.encoding, self.sample_rate):
            return "other", (f"playAudio with contentType {given[0]!r} and sampleRate "
                             f"{given[1]!r} on a {self.encoding} {self.sample_rate} Hz "
                             "stream: ignored")
        audio = base64.b64decode(media["payload"], validate=True)
        if self.encoding == "audio/x-l16":
            audio = mulaw_encode(resample_pcm16(audio, self.sample_rate))
        return "media", audio

    def classify(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        kind, value = self.kind_of(message)
        if kind == "other":
            if message.get("event") == "sendDTMF":
                self.dtmf_sent.append(str(message.get("dtmf", "")))
            elif value is not None:
                self.errors.append(value)
        elif kind == "clear":
            flushed = list(self._pending_marks)  # answered after clearedAudio, in order
            self._pending_marks.clear()
            self._nursery.start_soon(self._acknowledge_clear, flushed)
        return kind, value

    async def _acknowledge_clear(self, flushed: list[str]) -> None:
        with suppress(trio_websocket.ConnectionClosed):
            await self.send_json(self.cleared_frame())
            for name in flushed:
                self.marks_echoed.append(name)
                await self.send_json(self.mark_frame(name))
        self._wake()


@asynccontextmanager
async def open_plivo_media_stream(
    url: str, *, call_uuid: str, extra_headers: str = "", account_id: str = "MA" + "0" * 18,
    stream_id: str | None = None, echo_marks: bool = True,
    content_type: str = "audio/x-mulaw;rate=8000", bidirectional: bool = True,
    audio_track: str = "inbound", send_start: bool = True, local_address: str | None = None,
    connect_timeout_s: float = 10.0,
) -> AsyncIterator[PlivoMediaStream]:
    """Connect to ``url`` (ws://host:port/path) as Plivo would; see the module docstring.

    ``echo_marks=False`` leaves checkpoints unanswered (the conformance suite answers them
    itself with ``mark_frame``); ``bidirectional=False`` drops the app's audio as an error;
    ``send_start=False`` connects and says nothing; ``local_address`` binds the client side to
    another loopback address to stand for a different Plivo IP.
    """
    media_format(content_type)  # a bad content type fails before connecting

    def build(ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery) -> PlivoMediaStream:
        return PlivoMediaStream(ws, nursery, call_uuid=call_uuid,
                                stream_id=stream_id or str(uuid.uuid4()), account_id=account_id,
                                extra_headers=extra_headers, content_type=content_type,
                                bidirectional=bidirectional, audio_track=audio_track,
                                echo_marks=echo_marks)

    async def handshake(stream: PlivoMediaStream) -> None:
        if send_start:
            await stream.send_start()

    async with open_media_connection(url, build, handshake=handshake,
                                     local_address=local_address,
                                     connect_timeout_s=connect_timeout_s) as stream:
        yield stream
