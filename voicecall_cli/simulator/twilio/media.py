"""Twilio's side of a bidirectional Media Stream, for tests, benchmarks and the demo.

:func:`open_twilio_media_stream` connects to a stream URL with trio-websocket and behaves like
Twilio after ``<Connect><Stream>``: it sends ``connected`` and ``start`` (streamSid, callSid,
``customParameters`` with the token, mediaFormat audio/x-mulaw 8000 Hz mono), then
:meth:`TwilioMediaStream.send_audio` sends real 20 ms mu-law ``media`` frames at real-time pace
(absolute schedule) from a WAV file, raw mu-law bytes or a :class:`Tone`.

Everything the server sends is recorded with its arrival time (``trio.current_time()``).
Like Twilio, it models a playout buffer: each received media frame is 20 ms of audio, and a
``mark`` is echoed back when the audio queued before it has been played; ``clear`` empties the
buffer and echoes the pending marks at once. :func:`media_stats` turns arrival times into
jitter and drift figures.

Resource handling: the context manager owns the TCP connection and its tasks (the websocket
reader and the mark echoes); on exit it sends ``stop`` (if the stream started and is still
open) and closes the socket. A refused upgrade raises ``trio_websocket.ConnectionRejected``
(its ``status_code`` and ``body`` say why) from the ``async with``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import trio
import trio_websocket

from voicecall_cli.providers.audio import (
    FRAME_BYTES,
    frames,
    mulaw_encode,
    resample_pcm16,
    sine_pcm16,
)

FRAME_S = 0.020


@dataclass(frozen=True)
class Tone:
    freq_hz: float = 440.0
    seconds: float = 1.0
    amplitude: int = 8000


AudioInput = str | os.PathLike[str] | bytes | Tone


def load_mulaw(audio: AudioInput) -> bytes:
    """Mu-law 8 kHz from a PCM16 WAV file (any rate, mono or stereo), mu-law bytes or a tone."""
    if isinstance(audio, bytes):
        return audio
    if isinstance(audio, Tone):
        return mulaw_encode(sine_pcm16(audio.freq_hz, audio.seconds, amplitude=audio.amplitude))
    with wave.open(os.fspath(audio), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{audio}: only 16-bit PCM WAV files are supported")
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = wav.readframes(wav.getnframes())
    if channels > 1:
        samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)
        pcm = samples.mean(axis=1).round().astype("<i2").tobytes()
    return mulaw_encode(resample_pcm16(pcm, rate))


@dataclass(frozen=True)
class MediaStats:
    """Timing of a run of media frames, each due 20 ms after the previous one."""

    frames: int
    jitter_p50_ms: float  # |inter-arrival delta - 20 ms|
    jitter_p99_ms: float
    jitter_max_ms: float
    drift_ms: float  # arrival of the last frame minus (first arrival + n * 20 ms)
    max_drift_ms: float  # the largest |drift| over the run
    deltas_ms: tuple[float, ...] = field(repr=False, default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["deltas_ms"]
        return data


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(np.ceil(p / 100 * len(ordered)))))
    return ordered[rank - 1]


def media_stats(arrivals: Sequence[float], frame_s: float = FRAME_S) -> MediaStats:
    times = np.asarray(arrivals, dtype=float)
    if len(times) < 2:
        return MediaStats(len(times), 0.0, 0.0, 0.0, 0.0, 0.0)
    deltas = np.diff(times) * 1000
    jitter = np.abs(deltas - frame_s * 1000).tolist()
    drift = (times - (times[0] + np.arange(len(times)) * frame_s)) * 1000
    return MediaStats(
        frames=len(times), jitter_p50_ms=round(percentile(jitter, 50), 3),
        jitter_p99_ms=round(percentile(jitter, 99), 3), jitter_max_ms=round(max(jitter), 3),
        drift_ms=round(float(drift[-1]), 3), max_drift_ms=round(float(np.abs(drift).max()), 3),
        deltas_ms=tuple(round(d, 3) for d in deltas.tolist()))


@dataclass(frozen=True)
class ReceivedMedia:
    at: float  # trio.current_time() on arrival
    payload: bytes  # mu-law


class TwilioMediaStream:
    """One connected stream (see the module docstring); made by :func:`open_twilio_media_stream`.

    Recorded: ``messages`` (every frame received, as (arrival time, decoded JSON)), ``media``
    (received audio frames), ``marks_echoed`` (mark names echoed back, in order), ``clears``
    (arrival times of ``clear``) and, once the server closed, ``close_code``/``close_reason``.
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery, *,
                 call_sid: str, stream_sid: str, account_sid: str, echo_marks: bool) -> None:
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.account_sid = account_sid
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.media: list[ReceivedMedia] = []
        self.marks_echoed: list[str] = []
        self.clears: list[float] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = trio.Event()
        self.started = False
        self.stopped = False
        self._ws = ws
        self._nursery = nursery
        self._echo_marks = echo_marks
        self._sequence = 0
        self._playout_end = 0.0  # when the audio received so far has been played
        self._pending_marks: dict[str, float] = {}  # name -> when it will be echoed
        self._changed = trio.Event()

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

    async def send_audio(self, audio: AudioInput, *, realtime: bool = True) -> int:
        """Send ``audio`` as 160-byte media frames, one every 20 ms (absolute schedule) unless
        ``realtime`` is False; returns the number of frames sent."""
        chunks = frames(load_mulaw(audio))
        start = trio.current_time()
        for n, chunk in enumerate(chunks):
            if realtime:
                await trio.sleep_until(start + n * FRAME_S)
            await self.send_json({
                "event": "media", "sequenceNumber": self._next_sequence(),
                "media": {"track": "inbound", "chunk": str(n + 1),
                          "timestamp": str(n * 20),
                          "payload": base64.b64encode(chunk).decode("ascii")},
                "streamSid": self.stream_sid})
        return len(chunks)

    async def send_stop(self) -> None:
        await self.send_json({"event": "stop", "sequenceNumber": self._next_sequence(),
                              "streamSid": self.stream_sid,
                              "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
        self.stopped = True

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message, separators=(",", ":")))

    async def send_raw(self, text: str) -> None:
        await self._ws.send_message(text)

    async def close(self, code: int = 1000) -> None:
        """Close the socket without ``stop`` (Twilio dropping the connection)."""
        await self._ws.aclose(code)

    # -- what we observed ----------------------------------------------------------------------

    def stats(self, since: int = 0) -> MediaStats:
        """Timing of the received media frames from index ``since`` on."""
        return media_stats([m.at for m in self.media[since:]])

    async def wait_for(self, predicate: Callable[[TwilioMediaStream], bool]) -> None:
        """Wait until ``predicate(self)`` holds (checked whenever a frame arrives)."""
        while not predicate(self):
            if self.closed.is_set():
                raise trio_websocket.ConnectionClosed(None)
            await self._changed.wait()

    # -- the reader ----------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                text = await self._ws.get_message()
                now = trio.current_time()
                message = json.loads(text)
                self.messages.append((now, message))
                event = message.get("event")
                if event == "media":
                    payload = base64.b64decode(message["media"]["payload"])
                    self.media.append(ReceivedMedia(now, payload))
                    self._playout_end = max(now, self._playout_end) + FRAME_S * (
                        len(payload) / FRAME_BYTES)
                elif event == "mark" and self._echo_marks:
                    self._schedule_echo(message["mark"]["name"], now)
                elif event == "clear":
                    self.clears.append(now)
                    self._playout_end = now
                    for name in list(self._pending_marks):
                        self._nursery.start_soon(self._echo, name)
                self._wake()
        except trio_websocket.ConnectionClosed as exc:
            if exc.reason is not None:
                self.close_code, self.close_reason = exc.reason.code, exc.reason.reason
        finally:
            self.closed.set()
            self._wake()

    def _schedule_echo(self, name: str, now: float) -> None:
        due = max(now, self._playout_end)
        self._pending_marks[name] = due
        self._nursery.start_soon(self._echo, name, due)

    async def _echo(self, name: str, due: float | None = None) -> None:
        if due is not None:
            await trio.sleep_until(due)
        if self._pending_marks.pop(name, None) is None or self.closed.is_set():
            return  # already echoed (by a clear)
        self.marks_echoed.append(name)
        with suppress(trio_websocket.ConnectionClosed):
            await self.send_json({"event": "mark", "sequenceNumber": self._next_sequence(),
                                  "streamSid": self.stream_sid, "mark": {"name": name}})
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)


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
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise ValueError(f"expected a ws:// URL, got {url!r}")
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(connect_timeout_s):
                tcp = await trio.open_tcp_stream(parts.hostname, parts.port or 80,
                                                 local_address=local_address)
                ws = await trio_websocket.wrap_client_stream(
                    nursery, tcp, parts.netloc, resource, message_queue_size=1 << 16)
            stream = TwilioMediaStream(
                ws, nursery, call_sid=call_sid,
                stream_sid=stream_sid or "MZ" + secrets.token_hex(16),
                account_sid=account_sid, echo_marks=echo_marks)
            nursery.start_soon(stream._read)
            try:
                with suppress(trio_websocket.ConnectionClosed):  # the server closed at once
                    await stream.send_connected()
                    if send_start:
                        await stream.send_start(token=token, custom_parameters=custom_parameters)
                yield stream
                if stream.started and not stream.stopped and not stream.closed.is_set():
                    with suppress(trio_websocket.ConnectionClosed):
                        await stream.send_stop()
            finally:
                with trio.move_on_after(2) as cleanup:
                    cleanup.shield = True
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        rejected, _ = group.split(trio_websocket.ConnectionRejected)
        if rejected is None:
            raise
        raise _first(rejected) from None


def _first(group: BaseExceptionGroup) -> BaseException:
    """The first leaf exception of a (nested) exception group."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first
