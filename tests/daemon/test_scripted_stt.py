"""The offline transcriber (``streaming.sttProvider = "scripted"``): what it hears as speech.

Its loudness test reads a table instead of decoding each frame; these tests hold it to the
PCM16 RMS rule it documents, and check that audio is judged 20 ms at a time whatever size of
chunk it arrives in (a carrier may batch frames)."""

from __future__ import annotations

import numpy as np
import pytest

from voicecall_cli.daemon.media.scripted_stt import SPEECH_RMS, ScriptedTranscriber
from voicecall_cli.providers.audio import SILENCE_FRAME, mulaw_decode, mulaw_encode, sine_pcm16


def transcriber(events: list) -> ScriptedTranscriber:
    return ScriptedTranscriber(
        transcripts=["first words", "second words"], silence_ms=200,
        on_partial=lambda text: events.append(("partial", text)),
        on_final=lambda text: events.append(("final", text)),
        on_speech_started=lambda: events.append("started"),
        on_speech_stopped=lambda: events.append("stopped"))


def rms(frame: bytes) -> float:
    pcm = np.frombuffer(mulaw_decode(frame), dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(pcm * pcm)))


def loud(frame: bytes) -> bool:
    """Whether the transcriber counts one 20 ms frame as speech (three of them start it)."""
    events: list = []
    t = transcriber(events)
    for _ in range(3):
        t.send_audio(frame)
    return events == ["started"]


def test_a_frame_is_speech_exactly_when_its_pcm_rms_reaches_the_threshold() -> None:
    rng = np.random.default_rng(7)
    frames = [mulaw_encode(sine_pcm16(300, 0.02, amplitude=a)) for a in range(700, 1000, 3)]
    frames += [bytes(rng.integers(0, 256, 160, dtype=np.uint8)) for _ in range(200)]
    frames += [SILENCE_FRAME, bytes([0x7F]) * 160, bytes([0x00]) * 160]
    assert any(rms(f) < SPEECH_RMS for f in frames) and any(rms(f) >= SPEECH_RMS for f in frames)
    for frame in frames:
        assert loud(frame) == (rms(frame) >= SPEECH_RMS), rms(frame)


@pytest.mark.parametrize("chunk_ms", [20, 100, 1300])
def test_audio_is_judged_frame_by_frame_in_chunks_of_any_size(chunk_ms: int) -> None:
    speech = mulaw_encode(sine_pcm16(300, 0.3, amplitude=8000)) + SILENCE_FRAME * 50
    audio = speech * 2
    events: list = []
    t = transcriber(events)
    size = chunk_ms * 8
    for start in range(0, len(audio), size):
        t.send_audio(audio[start:start + size])
    assert events == ["started", "stopped", ("partial", "first words"), ("final", "first words"),
                      "started", "stopped", ("partial", "second words"),
                      ("final", "second words")]
