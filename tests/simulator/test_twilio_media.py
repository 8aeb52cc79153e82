"""The Twilio media-stream simulator against an independent websocket server (trio-websocket's
own server, see :mod:`tests.simulator.websocket_peer`), plus its statistics and audio
loading."""

from __future__ import annotations

import base64
import json
import wave

import numpy as np
import pytest
import trio

from tests.simulator.websocket_peer import websocket_server
from voicecall_cli.providers.audio import mulaw_encode, sine_pcm16
from voicecall_cli.simulator.twilio.media import (
    Tone,
    load_mulaw,
    media_stats,
    open_twilio_media_stream,
)

CALL = "CA0123456789abcdef0123456789abcdef"


def media(payload: bytes) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1",
                       "media": {"payload": base64.b64encode(payload).decode()}})


def mark(name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": name}})


async def test_it_speaks_twilios_protocol_at_real_time_pace() -> None:
    with trio.fail_after(10):
        async with websocket_server() as (url, peer):
            async with open_twilio_media_stream(url, call_sid=CALL, token="tok",
                                                stream_sid="MZ1") as stream:
                started = trio.current_time()
                sent = await stream.send_audio(Tone(440, 0.2))
            await peer.wait_for(lambda r: r and r[-1][1]["event"] == "stop")
    assert sent == 10
    assert peer.events() == ["connected", "start", *["media"] * 10, "stop"]
    start = peer.received[1][1]
    assert start["streamSid"] == "MZ1" and start["start"]["callSid"] == CALL
    assert start["start"]["customParameters"] == {"token": "tok"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                             "channels": 1}
    frames = [m for _, m in peer.received if m["event"] == "media"]
    assert [f["media"]["chunk"] for f in frames] == [str(n) for n in range(1, 11)]
    audio = b"".join(base64.b64decode(f["media"]["payload"]) for f in frames)
    assert audio == mulaw_encode(sine_pcm16(440, 0.2, amplitude=8000))
    times = [t for t, m in peer.received if m["event"] == "media"]
    # The tenth frame leaves 180 ms after send_audio began (absolute schedule); a lower
    # bound from before the call, so a loaded machine can only make it later.
    assert times[-1] - started >= 9 * 0.02 - 1e-9
    sequence = [int(m["sequenceNumber"]) for _, m in peer.received if "sequenceNumber" in m]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)


async def test_it_records_media_and_echoes_a_mark_after_the_audio_before_it_played() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_twilio_media_stream(url, call_sid=CALL, token="tok") as stream):
            await peer.connected.wait()
            for _ in range(10):  # 200 ms of audio in one burst, then the mark
                await peer.ws.send_message(media(b"\x01" * 160))
            await peer.ws.send_message(mark("m1"))
            await stream.wait_for(lambda s: len(s.media) == 10)
            await peer.wait_for(lambda r: any(m["event"] == "mark" for _, m in r))
            echoed_at = next(t for t, m in peer.received if m["event"] == "mark")
    assert [m.payload for m in stream.media] == [b"\x01" * 160] * 10
    assert stream.marks_echoed == ["m1"]
    # Not before the 200 ms had played: the simulator plays from the first frame's arrival
    # (same clock; load can only make the echo later).
    assert echoed_at >= stream.media[0].at + 10 * 0.02 - 1e-9


async def test_clear_echoes_the_pending_marks_at_once(mock_clock) -> None:
    # trio's clock stands still (MockClock, no autojump): the mark's playout time never comes,
    # so an echo can only be the clear's, sent at once.
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_twilio_media_stream(url, call_sid=CALL, token="tok") as stream):
            await peer.connected.wait()
            for _ in range(100):  # two seconds queued
                await peer.ws.send_message(media(b"\x02" * 160))
            await peer.ws.send_message(mark("long"))
            await peer.ws.send_message(json.dumps({"event": "clear", "streamSid": "MZ1"}))
            await peer.wait_for(lambda r: any(m["event"] == "mark" for _, m in r))
    assert stream.marks_echoed == ["long"] and len(stream.clears) == 1
    assert trio.current_time() == 0  # no timer fired


async def test_a_server_close_is_recorded() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_twilio_media_stream(url, call_sid=CALL, token="tok") as stream):
            await peer.connected.wait()
            await peer.ws.aclose(1008, "Unknown call")
            await stream.closed.wait()
    assert (stream.close_code, stream.close_reason) == (1008, "Unknown call")


def test_stats_of_a_perfect_schedule_are_zero() -> None:
    stats = media_stats([10 + n * 0.02 for n in range(500)])
    assert stats.frames == 500
    assert stats.jitter_p99_ms == pytest.approx(0, abs=1e-6)
    assert stats.drift_ms == pytest.approx(0, abs=1e-6)


def test_stats_measure_jitter_and_cumulative_drift() -> None:
    arrivals = [n * 0.02 for n in range(100)]
    arrivals[50] += 0.005  # one late frame: two deltas off by 5 ms, no lasting drift
    stats = media_stats(arrivals)
    assert stats.jitter_max_ms == pytest.approx(5)
    assert stats.jitter_p50_ms == pytest.approx(0, abs=1e-6)
    assert stats.max_drift_ms == pytest.approx(5) and stats.drift_ms == pytest.approx(0, abs=1e-6)
    slow = media_stats([n * 0.021 for n in range(101)])  # 1 ms slow per frame accumulates
    assert slow.drift_ms == pytest.approx(100)
    assert media_stats([]).frames == 0


def test_audio_inputs(tmp_path) -> None:
    assert load_mulaw(b"\x01\x02") == b"\x01\x02"
    assert len(load_mulaw(Tone(440, 0.5))) == 4000
    path = tmp_path / "hello.wav"
    stereo = np.repeat(np.frombuffer(sine_pcm16(440, 0.5, 16000), dtype="<i2"), 2)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(stereo.astype("<i2").tobytes())
    assert len(load_mulaw(path)) == 4000
