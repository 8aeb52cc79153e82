"""The framing of a provider's media-stream websocket, as the daemon sees it (DESIGN section 6).

A :class:`MediaCodec` is pure: it turns one frame from the provider into one of the events
below and writes the frames the daemon sends (audio, a mark, a clear). The daemon's media
package owns everything else: sockets, limits, tokens, the stream registry and paced
playback. Audio is always G.711 mu-law, 8 kHz, mono.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class StreamStarted:
    """The stream is up for ``provider_call_id`` (None when the frame left it out).

    ``token`` is the one the stream presented in its start frame, if any (the daemon also
    accepts one presented before: the upgrade URL's ``?token=``, the codec's
    ``token_header``, a :class:`StreamCredential` frame). ``token_subject`` is the id the
    token was minted for when that is not the provider call id (Telnyx's is minted at dial
    time, before the call has one: our call id, which the start frame echoes)."""

    stream_id: str
    provider_call_id: str | None
    token: str | None = None
    token_subject: str | None = None


@dataclass(frozen=True, slots=True)
class StreamCredential:
    """A frame before the start presented the stream's token."""

    token: str


@dataclass(frozen=True, slots=True)
class AudioIn:
    """Caller audio: mu-law bytes. ``sequence`` orders the frames of a provider that may
    deliver them out of order (the daemon puts them back in order); None: in order."""

    payload: bytes
    sequence: int | None = None


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


MediaEvent = StreamStarted | StreamCredential | AudioIn | MarkPlayed | DtmfIn | StreamStopped


class MediaCodec(Protocol):
    """One provider's media-stream frames (see the module docstring).

    ``token_header``: the upgrade request header (lower-case) in which the provider presents
    the stream's token, or None."""

    name: str
    token_header: str | None

    def decode(self, frame: str | bytes) -> MediaEvent | None:
        """One frame -> its event; None for a frame the daemon does not act on.

        Raises ``ValueError`` for a frame that is malformed."""

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        """A text frame carrying ``mulaw`` (normally one 20 ms, 160-byte frame)."""

    def encode_mark(self, stream_id: str, name: str) -> str:
        """A text frame asking the provider to report when the audio before it was played."""

    def encode_clear(self, stream_id: str) -> str:
        """A text frame asking the provider to drop the audio it has buffered (barge-in)."""


# -- what the JSON framings (Twilio, Telnyx, Plivo) read alike --------------------------------


def json_message(frame: str | bytes, carrier: str) -> dict[str, Any]:
    """A frame as a JSON object with a string ``event``. Raises ``ValueError`` for anything
    else, a frame nested too deep to parse included."""
    try:
        message = json.loads(frame)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise ValueError(f"not a {carrier} media stream message (no event)")
    return message


def object_field(message: dict[str, Any], key: str, *, required: bool = True
                 ) -> dict[str, Any]:
    """``message[key]``, which must be an object ({} for an absent one when not
    ``required``); raises ``ValueError`` naming the event and the key."""
    value = message.get(key)
    if isinstance(value, dict):
        return value
    if value is None and not required:
        return {}
    raise ValueError(f"{message['event']} without a {key} object")


def payload_audio(media: dict[str, Any]) -> bytes:
    """The audio of a ``media`` object's base64 ``payload``; raises ``ValueError`` when it is
    missing or not base64."""
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise ValueError("media without a payload")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error:
        raise ValueError("media payload is not base64") from None
