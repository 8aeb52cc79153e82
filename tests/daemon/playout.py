"""What a carrier makes of the audio the daemon sends: its playout clock, for media tests.

Every carrier plays the media it is sent back to back, each message's payload at 8000 mu-law
bytes per second. :func:`playout` replays that for a list of (arrival time, payload) pairs and
reports what the caller would hear: a *gap* is a chunk that arrives after the audio before it
has finished playing (silence on the line); the *margin* of a chunk is how much audio the
carrier still had queued when it arrived (how late it could have been without a gap), and
*queued* is how much audio the carrier holds just after a chunk arrived (what a ``clear`` has
to flush). Pure arithmetic on the recorded times; no clock of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FRAME_BYTES = 160
FRAME_S = 0.020


@dataclass(frozen=True)
class Playout:
    gaps: list[tuple[float, float]]  # (arrival, seconds of silence before that chunk)
    max_queued_s: float  # the most audio queued at the carrier just after a chunk arrived
    min_margin_s: float  # the least audio still queued when a chunk (after the first) arrived
    end: float  # when the last chunk finishes playing
    frames: int  # 20 ms frames received
    messages: int


def playout(media: Sequence[tuple[float, bytes]], *, tolerance_s: float = 1e-9) -> Playout:
    """The carrier's playout of ``media`` from the first chunk on (see the module docstring)."""
    gaps: list[tuple[float, float]] = []
    margins: list[float] = []
    queued: list[float] = []
    end = None
    frames = 0
    for at, payload in media:
        assert len(payload) % FRAME_BYTES == 0, f"{len(payload)} bytes: not whole 20 ms frames"
        if end is not None:
            if at > end + tolerance_s:
                gaps.append((at, at - end))
            margins.append(end - at)
        end = max(at, end if end is not None else at) + len(payload) / FRAME_BYTES * FRAME_S
        queued.append(end - at)
        frames += len(payload) // FRAME_BYTES
    return Playout(gaps, max(queued, default=0.0), min(margins, default=0.0),
                   end if end is not None else 0.0, frames, len(media))
