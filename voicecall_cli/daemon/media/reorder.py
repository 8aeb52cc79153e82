"""Caller audio back in order: a small reordering buffer for providers whose media frames may
arrive out of order (Telnyx), before they reach the transcriber.

Pure and synchronous; one per stream, owned by its connection.
"""

from __future__ import annotations

import heapq

DEFAULT_DEPTH = 3  # frames held back at most (60 ms of 20 ms frames)
# Consecutive frames numbered well before the newest one released: the numbering jumped (a
# bogus sequence far ahead, or the sender restarted its count), so follow the new numbering
# rather than drop the caller's audio for the rest of the call. 10 frames = 200 ms lost.
RESYNC_AFTER = 10


class FrameOrder:
    """Releases frames in ``sequence`` order.

    In-order frames pass at once. A frame that arrives early waits for the ones before it,
    but at most ``depth`` frames are held: then the oldest held frame is released anyway (the
    missing one is lost), and a frame arriving after a later one was released is dropped, as a
    jitter buffer would. At the start of a stream the first ``depth`` frames are held (the
    first sequence number is not known in advance). After :data:`RESYNC_AFTER` frames in a
    row that are all far behind the newest released one, the order restarts from them.
    """

    def __init__(self, depth: int = DEFAULT_DEPTH) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self._depth = depth
        self._held: list[tuple[int, bytes]] = []
        self._last: int | None = None
        self.dropped = 0  # late or duplicate frames
        self._behind = 0  # consecutive frames far behind the newest released one

    def push(self, sequence: int, payload: bytes) -> list[bytes]:
        """Take one frame; returns the frames now due, in order (often just this one)."""
        if self._last is not None and sequence <= self._last:
            self.dropped += 1
            if self._last - sequence <= self._depth:
                return []  # an ordinary late or duplicate frame
            self._behind += 1
            if self._behind < RESYNC_AFTER:
                return []
            self._last, self._held, self._behind = sequence - 1, [], 0
        else:
            self._behind = 0
        if self._last is not None and sequence == self._last + 1 and not self._held:
            self._last = sequence  # the common case: in order, nothing held
            return [payload]
        heapq.heappush(self._held, (sequence, payload))
        due: list[bytes] = []
        held = self._held
        while held and (len(held) > self._depth
                        or (self._last is not None and held[0][0] == self._last + 1)):
            sequence, payload = heapq.heappop(held)
            if self._last is not None and sequence <= self._last:
                self.dropped += 1  # a duplicate of one already released
                continue
            self._last = sequence
            due.append(payload)
        return due

    def drain(self) -> list[bytes]:
        """The held frames, in order (the stream ended)."""
        due = []
        while self._held:
            sequence, payload = heapq.heappop(self._held)
            if self._last is None or sequence > self._last:
                self._last = sequence
                due.append(payload)
        return due
