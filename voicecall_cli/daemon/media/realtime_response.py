"""One response of a realtime voice model, as the daemon follows it (see
:mod:`.realtime_call`, which owns every one): the audio as it arrives (:class:`AudioFeed`,
played by one consumer), what the caller heard of it (a
:class:`~voicecall_cli.daemon.media.playback.PlayProgress`) and how it ended."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

import trio

from voicecall_cli.daemon.media.playback import PlayProgress

MS_PER_BYTE = 1 / 8  # 8 kHz mu-law


class AudioFeed:
    """A response's audio as it arrives, played by one consumer (:meth:`source`)."""

    def __init__(self) -> None:
        self.bytes = 0
        self._chunks: deque[bytes] = deque()
        self._ended = False
        self._changed = trio.Event()

    def append(self, audio: bytes) -> None:
        if not self._ended:
            self._chunks.append(audio)
            self.bytes += len(audio)
            self._changed.set()

    def end(self) -> None:
        self._ended = True
        self._changed.set()

    async def source(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                yield self._chunks.popleft()
            if self._ended:
                return
            self._changed = trio.Event()
            await self._changed.wait()


class Response:
    """One requested response: ``say`` (verbatim ``text``) or ``reply``."""

    def __init__(self, kind: str, text: str = "") -> None:
        self.kind = kind
        self.text = text
        self.event_id = ""
        self.response_id = ""
        self.item_id = ""
        self.transcript = ""
        self.error: str | None = None
        self.dropped = False  # barge-in: nothing more of it is played
        self.heard_ms: int | None = None  # where barge-in cut it
        self.feed = AudioFeed()
        self.progress = PlayProgress()
        self.ready = trio.Event()  # its first audio arrived, or it is over
        self.over = trio.Event()  # the model is done with it (or it was dropped)

    @property
    def audio_ms(self) -> int:
        return int(self.feed.bytes * MS_PER_BYTE)

    def finish(self, error: str | None = None) -> None:
        if error is not None and self.error is None:
            self.error = error
        self.feed.end()
        self.ready.set()
        self.over.set()


def cut_to_heard(text: str, heard_ms: int, total_ms: int) -> str:
    """The words of ``text`` the caller heard, by the share of its audio that played (an
    estimate), marked as cut off."""
    words = text.split()
    if not words or total_ms <= 0:
        return text
    kept = words[: round(len(words) * heard_ms / total_ms)]
    return (" ".join(kept) + " ...") if kept else ""
