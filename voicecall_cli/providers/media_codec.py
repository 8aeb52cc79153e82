"""The framing of a provider's media-stream websocket, as the daemon sees it (DESIGN section 6).

A :class:`MediaCodec` is pure: it turns one frame from the provider into one of the events
below and writes the frames the daemon sends (audio, a mark, a clear). The daemon's media
package owns everything else: sockets, limits, tokens, the stream registry and paced
playback. Audio is always G.711 mu-law, 8 kHz, mono.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The stream is up for ``provider_call_id`` (None when the frame left it out).

    ``token`` is the one the stream presented in its start frame, if any (the daemon also
    accepts the upgrade URL's ``?token=``)."""

    stream_id: str
    provider_call_id: str | None
    token: str | None = None


@dataclass(frozen=True, slots=True)
class AudioIn:
    """Caller audio: mu-law bytes."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """The provider played everything sent before the mark ``name``."""

    name: str


@dataclass(frozen=True, slots=True)
class DtmfIn:
    digits: str


@dataclass(frozen=True, slots=True)
class StreamStopped:
    """The provider ended the stream (the socket may stay open a moment longer)."""


MediaEvent = StreamStarted | AudioIn | MarkPlayed | DtmfIn | StreamStopped


class MediaCodec(Protocol):
    """One provider's media-stream frames (see the module docstring)."""

    name: str

    def decode(self, frame: str | bytes) -> MediaEvent | None:
        """One frame -> its event; None for a frame the daemon does not act on.

        Raises ``ValueError`` for a frame that is malformed."""

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        """A text frame carrying ``mulaw`` (normally one 20 ms, 160-byte frame)."""

    def encode_mark(self, stream_id: str, name: str) -> str:
        """A text frame asking the provider to report when the audio before it was played."""

    def encode_clear(self, stream_id: str) -> str:
        """A text frame asking the provider to drop the audio it has buffered (barge-in)."""
