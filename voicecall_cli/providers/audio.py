"""Telephony audio: G.711 mu-law, resampling to 8 kHz, 20 ms frames and audio sources.

Pure helpers shared by every carrier's media path (reference section 5.3). Mu-law is done with
numpy lookup tables (the stdlib ``audioop`` leaves Python in 3.13); resampling uses ``soxr``.
PCM is always signed 16-bit little-endian mono.

An :data:`AudioSource` is an async iterator of mu-law 8 kHz chunks of any size. The helpers
here build sources from mu-law bytes, from a stream of PCM chunks at any rate (resampled chunk by
chunk, so audio flows before synthesis ends) and from a sine tone. They do no I/O and never
block for long: every chunk they produce is at most about one second of audio.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from functools import lru_cache

import numpy as np
import soxr

TELEPHONY_RATE = 8000
FRAME_BYTES = 160  # 20 ms of mu-law at 8 kHz
SILENCE_BYTE = 0xFF  # mu-law encoding of 0
SILENCE_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES

_BIAS = 132
_CLIP = 32635
_CHUNK_SAMPLES = TELEPHONY_RATE  # sources yield at most one second at a time

AudioSource = AsyncIterator[bytes]


def _encode_table() -> np.ndarray:
    """Mu-law byte for every int16 value (index: the value's uint16 bit pattern)."""
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + _BIAS  # 132..32767: bits 7..14
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


def _decode_table() -> np.ndarray:
    """Int16 value of every mu-law byte."""
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


_ENCODE = _encode_table()
_DECODE = _decode_table()


def mulaw_encode(pcm: bytes) -> bytes:
    """PCM16 LE -> G.711 mu-law, one byte per sample (an odd trailing byte is ignored)."""
    samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
    return _ENCODE[samples.view(np.uint16)].tobytes()


def mulaw_decode(mulaw: bytes) -> bytes:
    """G.711 mu-law -> PCM16 LE."""
    return _DECODE[np.frombuffer(mulaw, dtype=np.uint8)].astype("<i2").tobytes()


def resample_pcm16(pcm: bytes, rate: int) -> bytes:
    """PCM16 at ``rate`` Hz -> PCM16 at 8 kHz (soxr, high quality low-pass).

    8 kHz input is returned unchanged (the same object).
    """
    if rate == TELEPHONY_RATE:
        return pcm
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    samples = np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)
    return soxr.resample(samples, rate, TELEPHONY_RATE).astype("<i2").tobytes()


def frames(mulaw: bytes) -> list[bytes]:
    """``mulaw`` cut into 160-byte (20 ms) frames; the last one is padded with silence."""
    out = [mulaw[i:i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]
    if out and len(out[-1]) < FRAME_BYTES:
        out[-1] = out[-1] + bytes([SILENCE_BYTE]) * (FRAME_BYTES - len(out[-1]))
    return out


def sine_pcm16(freq_hz: float, seconds: float, rate: int = TELEPHONY_RATE, *,
               amplitude: int = 12000, phase_samples: int = 0) -> bytes:
    """A sine tone as PCM16 LE; ``phase_samples`` continues a tone from that sample index."""
    count = round(seconds * rate)
    t = (np.arange(count) + phase_samples) / rate
    return (amplitude * np.sin(2 * np.pi * freq_hz * t)).round().astype("<i2").tobytes()


async def mulaw_source(mulaw: bytes) -> AudioSource:
    """A source that yields ``mulaw`` (8 kHz mu-law), at most one second per chunk."""
    for start in range(0, len(mulaw), _CHUNK_SAMPLES):
        yield mulaw[start:start + _CHUNK_SAMPLES]


async def tone_source(freq_hz: float, seconds: float, *, amplitude: int = 12000) -> AudioSource:
    """A sine tone as mu-law 8 kHz, generated one second at a time (long tones stay cheap).

    Each second is computed once per process (:func:`_tone_second`): every call that speaks
    with the offline voice plays the same few seconds of the same tone."""
    total = round(seconds * TELEPHONY_RATE)
    for start in range(0, total, _CHUNK_SAMPLES):
        yield _tone_second(freq_hz, amplitude, start, min(_CHUNK_SAMPLES, total - start))


@lru_cache(maxsize=64)  # at most 64 s of tones: 512 KB
def _tone_second(freq_hz: float, amplitude: int, start: int, count: int) -> bytes:
    return mulaw_encode(sine_pcm16(freq_hz, count / TELEPHONY_RATE, amplitude=amplitude,
                                   phase_samples=start))


async def pcm_source(chunks: AsyncIterable[bytes], rate: int) -> AudioSource:
    """Mu-law 8 kHz from PCM16 chunks at ``rate``, resampled as they arrive.

    Chunks may split a sample (an odd byte is carried over). A streaming soxr resampler keeps
    the filter state between chunks, so the output matches resampling the whole buffer (to
    within rounding) and each chunk's audio is available before the next one is synthesised.
    """
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    resampler = None if rate == TELEPHONY_RATE else soxr.ResampleStream(
        rate, TELEPHONY_RATE, 1, dtype="int16")
    carry = b""
    async for chunk in chunks:
        data = carry + chunk
        usable = len(data) - len(data) % 2
        carry = data[usable:]
        if not usable:
            continue
        samples = np.frombuffer(data, dtype="<i2", count=usable // 2)
        if resampler is not None:
            samples = resampler.resample_chunk(samples)
        if len(samples):
            yield _ENCODE[samples.astype("<i2").view(np.uint16)].tobytes()
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        if len(tail):
            yield _ENCODE[tail.astype("<i2").view(np.uint16)].tobytes()
