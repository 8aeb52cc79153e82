"""The audio side of the fake OpenAI Realtime voice server (``realtime_voice_server``).

Pure helpers, no I/O: the reply audio the fake plays (a 300 Hz mu-law tone, never silence),
the transcript cut into pieces to interleave with it, the ``<<say>>...<</say>>`` marker the
daemon puts verbatim text in, and :class:`EnergyVad`, an energy-based stand-in for the API's
server VAD over 8 kHz mu-law input. Tests use :func:`tone` and :func:`silence` to build input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from voicecall_cli.providers.audio import (
    FRAME_BYTES,
    SILENCE_BYTE,
    mulaw_decode,
    mulaw_encode,
    sine_pcm16,
)

BYTES_PER_MS = 8  # 8 kHz mu-law: one byte per sample
FRAME_MS = FRAME_BYTES // BYTES_PER_MS  # 20 ms
LOUD_RMS = 600.0  # a frame whose decoded PCM RMS is above this is speech
SPEECH_START_MS = 60  # this much loud audio in a row starts speech
REPLY_TONE_HZ = 300.0

_SAY = re.compile(r"<<say>>(.*?)<</say>>", re.DOTALL)
_WORD_START = re.compile(r"(?<=\s)(?=\S)")


def tone(ms: int, freq_hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """``ms`` milliseconds of a sine tone as 8 kHz mu-law (loud for the VAD)."""
    return mulaw_encode(sine_pcm16(freq_hz, ms / 1000, amplitude=amplitude))


def silence(ms: int) -> bytes:
    """``ms`` milliseconds of mu-law digital silence (0xFF)."""
    return bytes([SILENCE_BYTE]) * (ms * BYTES_PER_MS)


def reply_audio(ms: int) -> bytes:
    """What a response plays: ``ms`` milliseconds of a 300 Hz tone."""
    return tone(ms, REPLY_TONE_HZ)


def frame_rms(frame: bytes) -> float:
    pcm = np.frombuffer(mulaw_decode(frame), dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(pcm * pcm))) if pcm.size else 0.0


def say_text(instructions: str | None) -> str | None:
    """The verbatim text between ``<<say>>`` and ``<</say>>`` in ``instructions``, if any."""
    match = _SAY.search(instructions or "")
    return match.group(1) if match else None


def transcript_pieces(transcript: str, count: int) -> list[str]:
    """``transcript`` cut at word starts into ``max(count, 1)`` pieces (some may be empty)
    whose concatenation is exactly ``transcript``."""
    words = _WORD_START.split(transcript)
    count = max(count, 1)
    return ["".join(words[i * len(words) // count:(i + 1) * len(words) // count])
            for i in range(count)]


@dataclass(frozen=True)
class VadEdge:
    kind: str  # "started" or "stopped"
    at_ms: int  # position in the session's input audio


class EnergyVad:
    """Speech starts after :data:`SPEECH_START_MS` of loud frames (reported ``prefix_ms``
    before the first loud one, as the API includes its prefix padding) and stops after
    ``silence_ms`` of quiet frames (reported at the end of that quiet, as the API includes the
    silence). Audio is consumed in whole 20 ms frames; a partial frame waits for the next feed.
    """

    def __init__(self) -> None:
        self.position_ms = 0
        self.speaking = False
        self._pending = b""
        self._loud_ms = 0
        self._loud_from = 0
        self._quiet_ms = 0

    def feed(self, audio: bytes, *, silence_ms: int, prefix_ms: int) -> list[VadEdge]:
        data = self._pending + audio
        whole = len(data) - len(data) % FRAME_BYTES
        self._pending = data[whole:]
        edges: list[VadEdge] = []
        for start in range(0, whole, FRAME_BYTES):
            loud = frame_rms(data[start:start + FRAME_BYTES]) > LOUD_RMS
            frame_start = self.position_ms
            self.position_ms += FRAME_MS
            if not self.speaking:
                if not loud:
                    self._loud_ms = 0
                    continue
                if self._loud_ms == 0:
                    self._loud_from = frame_start
                self._loud_ms += FRAME_MS
                if self._loud_ms >= SPEECH_START_MS:
                    self.speaking, self._quiet_ms = True, 0
                    edges.append(VadEdge("started", max(0, self._loud_from - prefix_ms)))
            elif loud:
                self._quiet_ms = 0
            else:
                self._quiet_ms += FRAME_MS
                if self._quiet_ms >= silence_ms:
                    self.speaking, self._loud_ms = False, 0
                    edges.append(VadEdge("stopped", self.position_ms))
        return edges
