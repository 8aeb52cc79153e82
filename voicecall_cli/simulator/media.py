"""A carrier's side of a bidirectional media stream, shared by the carrier simulators.

Twilio's Media Streams and Telnyx's media streaming are the same conversation in different
JSON: the carrier connects to the app's websocket, says who it is, sends the caller's audio as
20 ms mu-law frames at real-time pace, plays the audio the app sends back, echoes each of the
app's marks once the audio queued before it has played, and drops its queue on ``clear``.
:class:`CarrierMediaStream` is that conversation; a carrier's module subclasses it with its
framing (how frames are built and parsed, see the hooks below) and wraps
:func:`open_media_connection` in its own ``open_<carrier>_media_stream``.

Also here: audio inputs (:class:`Tone`, WAV files, raw mu-law; :func:`load_mulaw`) and timing
figures for received frames (:func:`media_stats`).

Everything the app sends is recorded with its arrival time (``trio.current_time()``). The
playout buffer model: each received media frame is ``len(payload) / 160`` x 20 ms of audio;
a mark is echoed when the audio received before it has been played (at once when nothing is
queued); ``clear`` empties the buffer and echoes the pending marks at once.

Resource handling: :func:`open_media_connection` owns the TCP connection and a nursery for
the stream's tasks (the websocket reader and the mark echoes). On a normal exit it sends the
carrier's ``stop`` (if the stream started and is still open); on any exit it closes the socket
(within 2 s, shielded) and cancels the tasks. A refused upgrade raises
``trio_websocket.ConnectionRejected`` (its ``status_code`` and ``body`` say why) from the
``async with``.
"""

from __future__ import annotations

import json
import os
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import numpy as np
import trio
import trio_websocket

from voicecall_cli.protocol.latency import percentile
from voicecall_cli.providers.audio import (
    FRAME_BYTES,
    frames,
    mulaw_encode,
    resample_pcm16,
    sine_pcm16,
)

FRAME_S = 0.020

__all__ = ["FRAME_S", "AudioInput", "CarrierMediaStream", "FrameKind", "MediaStats",
           "ReceivedMedia", "Tone", "load_mulaw", "media_stats", "open_media_connection",
           "percentile"]


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


FrameKind = Literal["media", "mark", "clear", "other"]


class CarrierMediaStream:
    """One connected stream, the carrier's side (see the module docstring).

    Recorded: ``messages`` (every frame received, as (arrival time, decoded JSON)) and
    ``kinds`` (what :meth:`classify` made of each, in the same order), ``media``
    (received audio frames that were played), ``dropped`` (received audio the carrier did not
    play, see ``plays_audio``), ``marks_echoed`` (mark names echoed back, in order), ``clears``
    (arrival times of ``clear``), ``errors`` (what the carrier would log) and, once the app
    closed, ``close_code``/``close_reason``.

    A carrier subclass supplies its framing: :meth:`media_frame`, :meth:`mark_frame`,
    :meth:`stop_frame` (what it sends) and :meth:`classify` (what a received frame is). It may
    override :meth:`send_media` (to send frames in another order) or set ``plays_audio`` False
    (a one-way stream: audio from the app is dropped and recorded as an error).
    """

    def __init__(self, ws: trio_websocket.WebSocketConnection, nursery: trio.Nursery, *,
                 echo_marks: bool) -> None:
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.kinds: list[tuple[FrameKind, Any]] = []  # classify() of each of messages
        self.media: list[ReceivedMedia] = []
        self.dropped: list[ReceivedMedia] = []
        self.marks_echoed: list[str] = []
        self.clears: list[float] = []
        self.errors: list[str] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.closed = trio.Event()
        self.started = False
        self.stopped = False
        self.plays_audio = True
        self._ws = ws
        self._nursery = nursery
        self._echo_marks = echo_marks
        self._sequence = 0
        self._playout_end = 0.0  # when the audio received so far has been played
        self._pending_marks: dict[str, float] = {}  # name -> when it will be echoed
        self._changed = trio.Event()

    # -- the carrier's framing (subclasses) -----------------------------------------------------

    def media_frame(self, payload: bytes, index: int) -> dict[str, Any]:
        """The frame carrying one 20 ms ``payload``; ``index`` counts frames within the current
        :meth:`send_audio` call (from 0)."""
        raise NotImplementedError

    def mark_frame(self, name: str) -> dict[str, Any]:
        """The frame echoing the app's mark ``name``."""
        raise NotImplementedError

    def stop_frame(self) -> dict[str, Any]:
        raise NotImplementedError

    def classify(self, message: dict[str, Any]) -> tuple[FrameKind, Any]:
        """What a frame from the app is: ``("media", mu-law bytes)``, ``("mark", name)``,
        ``("clear", None)`` or ``("other", None)``."""
        raise NotImplementedError

    # -- what the carrier sends -----------------------------------------------------------------

    async def send_audio(self, audio: AudioInput, *, realtime: bool = True) -> int:
        """Send ``audio`` as 160-byte media frames, one every 20 ms (absolute schedule) unless
        ``realtime`` is False; returns the number of frames sent."""
        chunks = frames(load_mulaw(audio))
        start = trio.current_time()
        for n, chunk in enumerate(chunks):
            if realtime:
                await trio.sleep_until(start + n * FRAME_S)
            await self.send_media(chunk, n)
        return len(chunks)

    async def send_media(self, payload: bytes, index: int) -> None:
        """Send one media frame (``index`` as in :meth:`media_frame`)."""
        await self.send_json(self.media_frame(payload, index))

    async def send_stop(self) -> None:
        await self.send_json(self.stop_frame())
        self.stopped = True

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.send_raw(json.dumps(message, separators=(",", ":")))

    async def send_raw(self, text: str) -> None:
        await self._ws.send_message(text)

    async def close(self, code: int = 1000) -> None:
        """Close the socket without ``stop`` (the carrier dropping the connection)."""
        await self._ws.aclose(code)

    # -- what we observed -----------------------------------------------------------------------

    @property
    def frames_received(self) -> int:
        """Whole 20 ms frames of 8 kHz mu-law received, however the app chunked them (a
        message may carry several frames)."""
        return sum(len(m.payload) for m in self.media) // 160

    def stats(self, since: int = 0) -> MediaStats:
        """Timing of the received (played) media frames from index ``since`` on."""
        return media_stats([m.at for m in self.media[since:]])

    async def wait_for(self, predicate: Callable[[Any], bool]) -> None:
        """Wait until ``predicate(self)`` holds (checked whenever a frame arrives); raises
        ``trio_websocket.ConnectionClosed`` if the socket closes first."""
        while not predicate(self):
            if self.closed.is_set():
                raise trio_websocket.ConnectionClosed(None)
            await self._changed.wait()

    # -- the reader -----------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                text = await self._ws.get_message()
                now = trio.current_time()
                message = json.loads(text)
                kind, value = self.classify(message)
                self.messages.append((now, message))
                self.kinds.append((kind, value))
                if kind == "media":
                    self._receive_audio(ReceivedMedia(now, value))
                elif kind == "mark" and self._echo_marks:
                    self._schedule_echo(value, now)
                elif kind == "clear":
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

    def _receive_audio(self, received: ReceivedMedia) -> None:
        if not self.plays_audio:
            if not self.dropped:
                self.errors.append("audio from the app was dropped: the stream is one-way")
            self.dropped.append(received)
            return
        self.media.append(received)
        self._playout_end = max(received.at, self._playout_end) + FRAME_S * (
            len(received.payload) / FRAME_BYTES)

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
            await self.send_json(self.mark_frame(name))
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)


S = TypeVar("S", bound=CarrierMediaStream)


@asynccontextmanager
async def open_media_connection(
    url: str, build: Callable[[trio_websocket.WebSocketConnection, trio.Nursery], S], *,
    handshake: Callable[[S], Awaitable[None]],
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    local_address: str | None = None, connect_timeout_s: float = 10.0,
) -> AsyncIterator[S]:
    """Connect to ``url`` (ws://host:port/path), make the stream with ``build(ws, nursery)``,
    run ``handshake(stream)`` (the carrier's first frames) and yield the stream; see the module
    docstring for what exit does.

    ``extra_headers`` go on the upgrade request; ``local_address`` binds the client side to
    another loopback address (127.0.0.2, ...) to stand for a different carrier IP.
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
                    nursery, tcp, parts.netloc, resource, extra_headers=extra_headers,
                    message_queue_size=1 << 16)
            stream = build(ws, nursery)
            nursery.start_soon(stream._read)
            try:
                with suppress(trio_websocket.ConnectionClosed):  # the app closed at once
                    await handshake(stream)
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
