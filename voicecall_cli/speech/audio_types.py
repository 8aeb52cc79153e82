"""Audio as the speech package hands it to the daemon.

The speech layer may not import the providers (a sibling layer), so it does not convert audio:
it returns a :class:`SpeechAudio` value saying what the bytes are, and the daemon resamples and
encodes them for the carrier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SpeechAudio:
    """Audio bytes as they arrive from the network.

    * ``encoding``: ``"pcm16"`` (signed 16-bit little-endian, mono) or ``"mulaw"`` (G.711).
    * ``rate``: samples per second (24000 for OpenAI ``pcm``, 8000 for ElevenLabs ``ulaw_8000``).
    * ``chunks``: the bytes in arrival order; chunk sizes are whatever the network delivered
      (a pcm16 chunk may even end in the middle of a sample).

    Resource handling: ``chunks`` holds the open HTTP response. Whoever receives a SpeechAudio
    owns it and must either exhaust ``chunks`` or close it (``await audio.chunks.aclose()``, or
    ``async with contextlib.aclosing(audio.chunks)``); both release the response.
    """

    encoding: str
    rate: int
    chunks: AsyncIterator[bytes]
