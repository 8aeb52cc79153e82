"""Telephony audio helpers: G.711 mu-law, resampling to 8 kHz, frames and audio sources."""

from __future__ import annotations

import numpy as np
import pytest

from voicecall_cli.providers.audio import (
    FRAME_BYTES,
    SILENCE_FRAME,
    frames,
    mulaw_decode,
    mulaw_encode,
    mulaw_source,
    pcm_source,
    resample_pcm16,
    sine_pcm16,
    tone_source,
)


def pcm(*values: int) -> bytes:
    return np.array(values, dtype="<i2").tobytes()


def samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def rms(data: bytes) -> float:
    return float(np.sqrt(np.mean(samples(data) ** 2)))


async def collect(source) -> bytes:
    return b"".join([chunk async for chunk in source])


# -- G.711 mu-law --------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "code"), [
    (0, 0xFF), (-1, 0x7F), (1000, 0xCE), (-1000, 0x4E), (32767, 0x80), (-32768, 0x00),
    (32635, 0x80), (100, 0xF2), (-100, 0x72),
])
def test_encode_matches_the_g711_table(value: int, code: int) -> None:
    assert mulaw_encode(pcm(value)) == bytes([code])


@pytest.mark.parametrize(("code", "value"), [
    (0xFF, 0), (0x7F, 0), (0x80, 32124), (0x00, -32124), (0xCE, 988), (0x4E, -988),
    (0xF0, 120), (0xEF, 132), (0xDF, 396),
])
def test_decode_matches_the_g711_table(code: int, value: int) -> None:
    assert samples(mulaw_decode(bytes([code])))[0] == value


def test_every_code_survives_decode_then_encode() -> None:
    codes = bytes(range(256))
    decoded = mulaw_decode(codes)
    # 0x7F (negative zero) legitimately encodes back as 0xFF (positive zero)
    assert mulaw_encode(decoded) == codes.replace(b"\x7f", b"\xff")


def test_a_sine_round_trips_within_the_quantisation_step() -> None:
    tone = sine_pcm16(440, 0.1, amplitude=12000)
    back = samples(mulaw_decode(mulaw_encode(tone)))
    original = samples(tone)
    # mu-law keeps a relative error of about 1/32 of the magnitude (plus a small floor)
    assert np.all(np.abs(back - original) <= np.abs(original) / 16 + 8)
    assert abs(rms(mulaw_decode(mulaw_encode(tone))) - rms(tone)) / rms(tone) < 0.01


# -- resampling -----------------------------------------------------------------------------------


def test_8khz_input_is_returned_unchanged() -> None:
    tone = sine_pcm16(1000, 0.1)
    assert resample_pcm16(tone, 8000) is tone


def test_48khz_1khz_tone_keeps_its_level() -> None:
    out = resample_pcm16(sine_pcm16(1000, 0.6, 48000, amplitude=12000), 48000)
    assert len(out) == 9600  # 0.6 s at 8 kHz, 2 bytes per sample
    assert rms(out) > 7500


def test_48khz_6khz_tone_is_suppressed() -> None:
    passband = rms(resample_pcm16(sine_pcm16(1000, 0.6, 48000, amplitude=12000), 48000))
    above_nyquist = rms(resample_pcm16(sine_pcm16(6000, 0.6, 48000, amplitude=12000), 48000))
    assert above_nyquist < 0.1 * passband


def test_24khz_half_second_makes_4000_mulaw_bytes() -> None:
    assert len(mulaw_encode(resample_pcm16(sine_pcm16(440, 0.5, 24000), 24000))) == 4000


# -- frames and sources ---------------------------------------------------------------------------


def test_frames_are_160_bytes_and_the_last_is_padded_with_silence() -> None:
    out = frames(b"\x01" * 400)
    assert [len(f) for f in out] == [160, 160, 160]
    assert out[2] == b"\x01" * 80 + b"\xff" * 80
    assert frames(b"") == []
    assert SILENCE_FRAME == b"\xff" * FRAME_BYTES


async def test_mulaw_source_yields_the_bytes() -> None:
    data = bytes(range(256)) * 100
    assert await collect(mulaw_source(data)) == data


async def test_tone_source_is_continuous_across_chunks() -> None:
    streamed = await collect(tone_source(440, 2.5))
    assert len(streamed) == 20000
    assert streamed == mulaw_encode(sine_pcm16(440, 2.5))


async def test_pcm_source_resamples_chunk_by_chunk_like_the_whole_buffer() -> None:
    tone = sine_pcm16(1000, 0.5, 24000, amplitude=12000)

    async def odd_chunks():  # 4801 bytes: every other chunk splits a sample
        for start in range(0, len(tone), 4801):
            yield tone[start:start + 4801]

    streamed = await collect(pcm_source(odd_chunks(), 24000))
    whole = resample_pcm16(tone, 24000)
    assert len(streamed) == 4000
    expected = mulaw_decode(mulaw_encode(whole))
    difference = np.abs(samples(mulaw_decode(streamed)) - samples(expected))
    assert difference.max() <= 64  # rounding in the resampler moves a sample by one code at most
    assert rms(mulaw_decode(streamed)) > 7500


async def test_pcm_source_at_8khz_only_encodes() -> None:
    tone = sine_pcm16(440, 0.2)

    async def one():
        yield tone

    assert await collect(pcm_source(one(), 8000)) == mulaw_encode(tone)
