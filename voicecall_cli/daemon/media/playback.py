"""Outbound audio of one media stream: a queue of sources played one at a time, paced.

Each :meth:`Playback.play` queues an :data:`~voicecall_cli.providers.audio.AudioSource` and
waits for its outcome. The player task (:meth:`Playback.run`) takes one item at a time:

* a puller task reads the source into a buffer (at most :data:`READ_AHEAD` bytes ahead), so a
  slow synthesiser never delays a frame;
* the pacer sends the audio in chunks of up to :data:`CHUNK_FRAMES` 20 ms frames (160 bytes of
  mu-law each) on an absolute playout clock (frame ``n`` plays at ``origin + n * 20 ms``, so
  lateness never accumulates into drift), keeping at most :data:`LEAD_S` of audio queued at
  the provider ahead of what it is playing: a chunk goes out once what was sent before it has
  fewer than ``LEAD_S - CHUNK_S`` left to play. Every carrier plays chunks of any whole number
  of frames back to back; fewer, larger messages cost the event loop far less than one per
  20 ms, and the lead absorbs the loop's own jitter (a chunk that is up to
  ``LEAD_S - CHUNK_S`` late is still on time for the caller) while keeping what a ``clear``
  has to flush at the provider small. While the source has produced nothing yet (or falls
  behind) the pacer waits until the provider's queue runs dry and then sends one 20 ms frame
  of 0xFF silence, which keeps the provider's jitter buffer fed without queueing silence ahead
  of the audio; the last audio frame is padded with silence;
* after the last chunk it sends a mark. The item is "played" only when the provider echoes that
  mark (the audio before it has been heard); queued items follow without a gap, on the same
  clock.

``clear`` (barge-in) sends ``clear``, drops the frames still queued for the socket and settles
the queued, the active and the mark-awaiting items as "interrupted". Failures (the source raises,
produces nothing within ``first_audio_timeout_s`` or nothing at all, the socket refuses a frame,
the mark is never echoed, the stream ends) raise :class:`PlaybackFailed` from ``play``; nothing
is left waiting: every item is settled exactly once.

Resource handling: :meth:`run` belongs to the connection's nursery; :meth:`close` fails every
item and cancels it. A source that started is closed (``aclose``) when its item ends, however
it ends; a queued source dropped by ``clear`` is never started.
Cancelling a ``play`` call abandons its item (dequeued, or stopped at the next chunk).

A :class:`PlayProgress` given to ``play`` follows how much of that item the caller has heard: the
pacer then also sends a mark every :data:`PROGRESS_MARK_S` of its audio, and each echo confirms
a position (a realtime response's barge-in cuts the model's item there).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from contextlib import aclosing, nullcontext, suppress

import trio

from voicecall_cli.daemon.media.outbox import Outbox, SendFailed
from voicecall_cli.providers.audio import FRAME_BYTES, SILENCE_BYTE, SILENCE_FRAME, AudioSource
from voicecall_cli.providers.base import ProviderError
from voicecall_cli.providers.media_codec import MediaCodec

logger = logging.getLogger("voicecall.media")

FRAME_S = 0.020
CHUNK_FRAMES = 5  # frames per media message: 100 ms of audio
CHUNK_S = CHUNK_FRAMES * FRAME_S
LEAD_S = 0.200  # at most this much audio queued at the provider ahead of its playout
READ_AHEAD = 16000  # bytes of mu-law buffered ahead of the pacer: two seconds
PROGRESS_MARK_S = 0.5  # with a PlayProgress: a mark after every half second of audio
PROGRESS_MARK_FRAMES = round(PROGRESS_MARK_S / FRAME_S)


class PlaybackFailed(ProviderError):
    """Audio could not be played into the call; the message says why."""


class PlayProgress:
    """How much of one played item the caller has heard, from its marks. Owned by whoever
    passed it to :meth:`Playback.play`; the playback writes it, on the trio clock.

    Positions count the item's own audio (keep-alive silence is not part of it), in ms."""

    def __init__(self) -> None:
        self.sent_ms = 0  # the item's audio sent to the provider so far
        self.started_at: float | None = None  # when its first frame plays, by our clock
        self.confirmed_ms = 0  # the position the provider last confirmed (a mark's echo)
        self.confirmed_at: float | None = None
        self._expected: dict[str, int] = {}  # mark name -> position, not yet echoed

    def expect(self, mark: str, position_ms: int) -> None:
        self._expected[mark] = position_ms

    def echoed(self, mark: str, now: float) -> None:
        position = self._expected.pop(mark, None)
        if position is not None and position >= self.confirmed_ms:
            self.confirmed_ms, self.confirmed_at = position, now

    def heard_ms(self, now: float) -> int:
        """What the caller has heard by ``now``: the last confirmed position plus the time
        played since, never past a mark still unconfirmed or the audio sent."""
        since = self.confirmed_at if self.confirmed_at is not None else self.started_at
        if since is None:
            return 0
        cap = min([self.sent_ms, *(p for p in self._expected.values() if p > self.confirmed_ms)])
        return max(self.confirmed_ms, min(cap, self.confirmed_ms + int((now - since) * 1000)))


class _Item:
    """One queued source and its outcome; settled exactly once."""

    def __init__(self, source: AudioSource, progress: PlayProgress | None = None) -> None:
        self.source = source
        self.progress = progress
        self.done = trio.Event()
        self.result: str | None = None
        self.error: PlaybackFailed | None = None
        self.scope = trio.CancelScope()  # the player's work on it; cancelled to interrupt
        self.wait_scope = trio.CancelScope()  # play()'s wait; gets a deadline with the mark
        self.mark: str | None = None

    def settle(self, result: str | None = None, error: PlaybackFailed | None = None) -> None:
        if not self.done.is_set():
            self.result, self.error = result, error
            self.done.set()


class _Fill:
    """The audio read ahead of the pacer."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.exhausted = False
        self.error: BaseException | None = None
        self.got_audio = False
        self.room = trio.Event()
        self.ready = trio.Event()  # a first frame is buffered, or the source ended or failed
        self.arrived = trio.Event()  # set when audio arrives or the source ends; renewed

    def take(self, frames: int) -> bytes | None:
        """Up to ``frames`` whole frames of the buffered audio (the source's last, partial frame
        padded with silence), or None when not one frame is buffered yet."""
        size = min(len(self.buffer), frames * FRAME_BYTES)
        if not self.exhausted:
            size -= size % FRAME_BYTES
        if not size:
            return None
        chunk = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.room.set()
        if size % FRAME_BYTES:
            chunk += bytes([SILENCE_BYTE]) * (FRAME_BYTES - size % FRAME_BYTES)
        return chunk


class Playback:
    """The playback queue of one stream (see the module docstring)."""

    def __init__(self, outbox: Outbox, codec: MediaCodec, stream_id: str, *,
                 first_audio_timeout_s: float, mark_timeout_s: float) -> None:
        self._outbox = outbox
        self._codec = codec
        self._stream_id = stream_id
        self._first_audio_timeout_s = first_audio_timeout_s
        self._mark_timeout_s = mark_timeout_s
        self._queue: deque[_Item] = deque()
        self._wake = trio.Event()
        self._active: _Item | None = None
        self._awaiting: dict[str, _Item] = {}  # mark name -> item whose echo is due
        self._progress: dict[str, PlayProgress] = {}  # mark name -> whose position it confirms
        self._play_end = -math.inf  # when the provider has played all the audio sent so far
        self._closed: str | None = None
        self._scope = trio.CancelScope()
        self._mark_numbers = itertools.count(1)

    async def play(self, source: AudioSource, progress: PlayProgress | None = None) -> str:
        """Queue ``source`` and wait: "played" once the provider echoed its mark, "interrupted" if a
        ``clear`` came first. Raises :class:`PlaybackFailed`. ``progress``, when given, follows
        what the caller has heard of it (see :class:`PlayProgress`)."""
        if self._closed is not None:
            raise PlaybackFailed(self._closed)
        item = _Item(source, progress)
        self._queue.append(item)
        self._wake.set()
        try:
            with item.wait_scope:
                await item.done.wait()
        except BaseException:
            self._abandon(item)
            raise
        if not item.done.is_set():  # the mark deadline passed
            self._awaiting.pop(item.mark or "", None)
            item.settle(error=PlaybackFailed(
                f"Telephony stream playback failed: completion mark not acknowledged within "
                f"{self._mark_timeout_s:g}s"))
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def clear(self) -> None:
        """Barge-in: send ``clear``, drop queued frames, settle every item "interrupted"."""
        self._outbox.drop_pending()
        with suppress(SendFailed):  # a closing socket has nothing left to clear
            self._outbox.put(self._codec.encode_clear(self._stream_id), droppable=False)
        self._settle_all(result="interrupted")
        self._progress.clear()  # the provider echoes flushed marks at once: not heard
        self._play_end = -math.inf

    def mark_echoed(self, name: str) -> None:
        """The provider played everything up to mark ``name``; unknown names are ignored."""
        progress = self._progress.pop(name, None)
        if progress is not None:
            progress.echoed(name, trio.current_time())
        item = self._awaiting.pop(name, None)
        if item is not None:
            item.settle("played")

    def close(self, reason: str) -> None:
        """The stream ended: fail every item with ``reason`` and stop the player."""
        if self._closed is None:
            self._closed = reason
            self._settle_all(error=PlaybackFailed(reason))
            self._scope.cancel()

    async def run(self) -> None:
        """The player task: plays queued items one at a time until :meth:`close`."""
        with self._scope:
            while True:
                while not self._queue:
                    self._wake = trio.Event()
                    await self._wake.wait()
                item = self._active = self._queue.popleft()
                with item.scope:
                    try:
                        await self._play(item)
                    except PlaybackFailed as exc:
                        item.settle(error=exc)
                self._active = None
                if item.scope.cancelled_caught:  # clear() or an abandoned play() stopped it
                    item.settle("interrupted")

    def _settle_all(self, *, result: str | None = None,
                    error: PlaybackFailed | None = None) -> None:
        items = [*self._queue, *self._awaiting.values()]
        if self._active is not None:
            items.append(self._active)
            self._active.scope.cancel()
        self._queue.clear()
        self._awaiting.clear()
        for item in items:
            item.settle(result, error)

    def _abandon(self, item: _Item) -> None:
        """The caller of play() went away: forget the item wherever it is."""
        if item in self._queue:
            self._queue.remove(item)
        self._awaiting.pop(item.mark or "", None)
        item.scope.cancel()
        item.settle("interrupted")

    async def _play(self, item: _Item) -> None:
        fill = _Fill()
        failure: PlaybackFailed | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pull, item.source, fill)
            try:
                await self._pace(fill, item.progress)
            except PlaybackFailed as exc:  # raised here, not through the nursery's group
                failure = exc
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        item.mark = f"vc-{next(self._mark_numbers)}"
        self._send(self._codec.encode_mark(self._stream_id, item.mark))
        if item.progress is not None:
            self._expect(item.progress, item.mark)
        self._awaiting[item.mark] = item
        item.wait_scope.deadline = trio.current_time() + self._mark_timeout_s

    def _expect(self, progress: PlayProgress, mark: str) -> None:
        progress.expect(mark, progress.sent_ms)
        self._progress[mark] = progress

    async def _pace(self, fill: _Fill, progress: PlayProgress | None = None) -> None:
        now = trio.current_time()
        if now >= self._play_end:
            # The stream is idle: give the audio up to one frame period to arrive, so the
            # utterance starts with its own first frame, not a keep-alive tick ahead of it.
            with trio.move_on_after(FRAME_S):
                await fill.ready.wait()
            now = trio.current_time()
        origin = max(now, self._play_end)  # when the first frame of this item plays
        sent = 0  # frames of this item sent; frame n plays at origin + n * FRAME_S
        audio_frames = 0  # of which the item's own audio (not keep-alive silence)
        while True:
            await trio.sleep_until(origin + sent * FRAME_S - (LEAD_S - CHUNK_S))
            chunk = self._take(fill)
            if chunk is None and not fill.exhausted:
                # Nothing to send: wait for audio until the provider's queue runs dry, then
                # keep it fed with one frame of silence.
                with trio.move_on_at(origin + sent * FRAME_S):
                    fill.arrived = trio.Event()
                    await fill.arrived.wait()
                chunk = self._take(fill)
                if chunk is None and not fill.exhausted:
                    if not fill.got_audio and sent * FRAME_S >= self._first_audio_timeout_s:
                        raise PlaybackFailed(f"Telephony TTS synthesis timed out after "
                                             f"{round(self._first_audio_timeout_s * 1000)}ms")
                    chunk = SILENCE_FRAME
            if chunk is None:
                break
            self._send(self._codec.encode_audio(self._stream_id, chunk))
            frames = len(chunk) // FRAME_BYTES
            sent += frames
            self._play_end = origin + sent * FRAME_S
            if progress is not None and chunk is not SILENCE_FRAME:
                if progress.started_at is None:
                    progress.started_at = origin + (sent - frames) * FRAME_S
                before = audio_frames // PROGRESS_MARK_FRAMES
                audio_frames += frames
                progress.sent_ms = audio_frames * round(FRAME_S * 1000)
                if audio_frames // PROGRESS_MARK_FRAMES > before:
                    mark = f"vc-{next(self._mark_numbers)}"
                    self._send(self._codec.encode_mark(self._stream_id, mark))
                    self._expect(progress, mark)
        if not fill.got_audio:
            raise PlaybackFailed("Telephony TTS produced no audio")

    @staticmethod
    def _take(fill: _Fill) -> bytes | None:
        if fill.error is not None:
            raise PlaybackFailed(f"Telephony stream playback failed: audio source failed: "
                                 f"{fill.error}")
        return fill.take(CHUNK_FRAMES)

    async def _pull(self, source: AudioSource, fill: _Fill) -> None:
        closing = aclosing(source) if hasattr(source, "aclose") else nullcontext(source)
        try:
            async with closing:
                async for chunk in source:
                    if chunk:
                        fill.buffer += chunk
                        fill.got_audio = True
                        if len(fill.buffer) >= FRAME_BYTES:
                            fill.ready.set()
                            fill.arrived.set()
                    while len(fill.buffer) >= READ_AHEAD:
                        fill.room = trio.Event()
                        await fill.room.wait()
        except Exception as exc:  # the source's own failure: reported by the pacer
            logger.warning("audio source failed: %r", exc)
            fill.error = exc
        fill.exhausted = True
        fill.ready.set()
        fill.arrived.set()

    def _send(self, text: str) -> None:
        try:
            self._outbox.put(text)
        except SendFailed as exc:
            raise PlaybackFailed(f"Telephony stream playback failed: {exc}") from None
