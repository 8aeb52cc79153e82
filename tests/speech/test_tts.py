"""Streaming TTS against local fake OpenAI and ElevenLabs servers (real wire formats).

Timing tests run on trio's autojump MockClock: the fakes stamp what they send with the same
virtual clock the client reads, so "the first chunk arrived before the server finished" is a
comparison of two timestamps, with no real sleeping.
"""

from __future__ import annotations

import itertools
import socket
from contextlib import aclosing

import httpx
import pytest
import trio

from tests.speech.fakes.tts_servers import (
    FakeElevenLabsSpeech,
    FakeOpenAISpeech,
    FakeTtsServer,
    mulaw,
    serve_fake,
    tone_samples,
)
from voicecall_cli.core.config import parse_config_text
from voicecall_cli.speech.audio_types import SpeechAudio
from voicecall_cli.speech.errors import SpeechError
from voicecall_cli.speech.tts import make_synthesizer, tts_unavailable_reason
from voicecall_cli.speech.tts_elevenlabs import ElevenLabsSynthesizer
from voicecall_cli.speech.tts_openai import OpenAISynthesizer

OPENAI_KEY = "sk-test-openai-5f2c9e"
ELEVEN_KEY = "xi-test-eleven-81d3aa"
VOICE_ID = "pMsXgVXv3BLzUgSXRplE"


def tts_block(toml: str, env: dict[str, str] | None = None) -> dict:
    """The validated ``tts`` block, as the daemon gets it from the config loader."""
    return parse_config_text(toml, ".toml", env or {}).get("tts") or {}


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False)  # no proxy from the environment on loopback


async def read_all(audio: SpeechAudio) -> bytes:
    async with aclosing(audio.chunks) as chunks:
        return b"".join([chunk async for chunk in chunks])


def zero_crossings_per_second(pcm: bytes, rate: int) -> float:
    samples = memoryview(pcm).cast("h")
    crossings = sum(1 for a, b in itertools.pairwise(samples) if (a < 0) != (b < 0))
    return crossings * rate / len(samples)


def openai_synth(server: FakeTtsServer, http: httpx.AsyncClient, **options) -> OpenAISynthesizer:
    return OpenAISynthesizer(http=http, api_key=options.pop("api_key", OPENAI_KEY),
                             base_url=server.base_url, **options)


def eleven_synth(server: FakeTtsServer, http: httpx.AsyncClient,
                 **options) -> ElevenLabsSynthesizer:
    return ElevenLabsSynthesizer(http=http, api_key=options.pop("api_key", ELEVEN_KEY),
                                 base_url=server.base_url, voice_id=VOICE_ID, **options)


async def test_openai_request_shape_and_pcm_tone(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY)) as server, http_client() as http:
            synth = openai_synth(server, http, model="gpt-4o-mini-tts", voice="marin",
                                 instructions="Speak calmly.", speed=1.25)
            audio = await synth.synthesize("Your table is booked for ten.")
            pcm = await read_all(audio)

    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"model": "gpt-4o-mini-tts", "input": "Your table is booked for ten.",
                            "voice": "marin", "response_format": "pcm", "speed": 1.25,
                            "instructions": "Speak calmly."}
    assert (audio.encoding, audio.rate) == ("pcm16", 24000)
    assert pcm == server.audio and len(pcm) == 24000  # 0.5 s of 16-bit samples at 24 kHz
    assert zero_crossings_per_second(pcm, audio.rate) == pytest.approx(2000, rel=0.01)


async def test_openai_from_config_uses_env_key_and_defaults(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY)) as server, http_client() as http:
            tts = tts_block(f'[tts.openai]\nbaseUrl = "{server.base_url}"\n',
                            {"OPENAI_API_KEY": OPENAI_KEY})
            synth = make_synthesizer(tts, http=http)
            assert synth is not None
            pcm = await read_all(await synth.synthesize("Hello"))

    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert request.body == {"model": "gpt-4o-mini-tts", "input": "Hello", "voice": "coral",
                            "response_format": "pcm"}
    assert pcm == server.audio


async def test_elevenlabs_request_shape_from_config(patient_autojump_clock):
    server = FakeElevenLabsSpeech(ELEVEN_KEY, voice_id=VOICE_ID)
    with trio.fail_after(10):
        async with serve_fake(server), http_client() as http:
            tts = tts_block(f"""
                [tts]
                provider = "elevenlabs"
                [tts.elevenlabs]
                baseUrl = "{server.base_url}"
                voiceId = "{VOICE_ID}"
                modelId = "eleven_multilingual_v2"
                languageCode = "en"
                seed = 42
                applyTextNormalization = "on"
                [tts.elevenlabs.voiceSettings]
                stability = 0.4
                similarityBoost = 0.8
                style = 0.1
                useSpeakerBoost = true
                speed = 1.1
                """, {"ELEVENLABS_API_KEY": ELEVEN_KEY})
            synth = make_synthesizer(tts, http=http)
            assert synth is not None
            audio = await synth.synthesize("One moment please.")
            ulaw = await read_all(audio)

    (request,) = server.requests
    assert request.path == f"/v1/text-to-speech/{VOICE_ID}/stream"
    assert request.query == {"output_format": ["ulaw_8000"]}
    assert request.headers["xi-api-key"] == ELEVEN_KEY
    assert "authorization" not in request.headers
    assert request.body == {
        "text": "One moment please.", "model_id": "eleven_multilingual_v2",
        "voice_settings": {"stability": 0.4, "similarity_boost": 0.8, "style": 0.1,
                           "use_speaker_boost": True, "speed": 1.1},
        "language_code": "en", "seed": 42, "apply_text_normalization": "on"}
    assert (audio.encoding, audio.rate) == ("mulaw", 8000)
    assert ulaw == mulaw(tone_samples(0.5, 8000)) and len(ulaw) == 4000


async def test_elevenlabs_minimal_body(patient_autojump_clock):
    server = FakeElevenLabsSpeech(ELEVEN_KEY, voice_id=VOICE_ID)
    with trio.fail_after(10):
        async with serve_fake(server), http_client() as http:
            await read_all(await eleven_synth(server, http).synthesize("Hi"))
    assert server.requests[0].body == {"text": "Hi", "model_id": "eleven_flash_v2_5"}


@pytest.mark.parametrize("fake", ["openai", "elevenlabs"])
async def test_first_chunk_arrives_while_the_server_is_still_synthesizing(
        patient_autojump_clock, fake):
    options = {"first_chunk_delay_s": 0.5, "chunk_delay_s": 0.2}
    if fake == "openai":
        server: FakeTtsServer = FakeOpenAISpeech(OPENAI_KEY, **options)
    else:
        server = FakeElevenLabsSpeech(ELEVEN_KEY, voice_id=VOICE_ID, **options)
    make = openai_synth if fake == "openai" else eleven_synth
    with trio.fail_after(10):
        async with serve_fake(server), http_client() as http:
            audio = await make(server, http).synthesize("Hello there")
            returned_at = trio.current_time()
            async with aclosing(audio.chunks) as chunks:
                first = await anext(chunks)
                first_at = trio.current_time()
                rest = b"".join([chunk async for chunk in chunks])

    (log,) = server.streams
    assert log.headers_sent_at <= returned_at < log.chunks_sent_at[0]  # returned on headers
    assert first_at < log.chunks_sent_at[1] < log.finished_at  # streamed, not buffered
    assert first + rest == server.audio


async def test_no_headers_within_timeout_raises_from_synthesize(patient_autojump_clock):
    with trio.fail_after(60):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY, headers_delay_s=30)) as server, \
                http_client() as http:
            started = trio.current_time()
            with pytest.raises(SpeechError) as caught:
                await openai_synth(server, http, timeout_s=2.0).synthesize("Hello")
            assert trio.current_time() - started == pytest.approx(2.0, abs=0.1)
    assert str(caught.value) == "OpenAI TTS synthesis timed out after 2000ms"


@pytest.mark.parametrize("fake", ["openai", "elevenlabs"])
async def test_no_first_byte_within_timeout_raises_from_the_chunks(patient_autojump_clock, fake):
    if fake == "openai":
        server: FakeTtsServer = FakeOpenAISpeech(OPENAI_KEY, first_chunk_delay_s=30)
    else:
        server = FakeElevenLabsSpeech(ELEVEN_KEY, voice_id=VOICE_ID, first_chunk_delay_s=30)
    make = openai_synth if fake == "openai" else eleven_synth
    label = "OpenAI" if fake == "openai" else "ElevenLabs"
    with trio.fail_after(60):
        async with serve_fake(server), http_client() as http:
            started = trio.current_time()
            audio = await make(server, http).synthesize("Hello")  # default 8 s
            with pytest.raises(SpeechError) as caught:
                await read_all(audio)
            assert trio.current_time() - started == pytest.approx(8.0, abs=0.1)
            await server.streams[0].disconnected.wait()
    assert str(caught.value) == f"{label} TTS synthesis timed out after 8000ms"


async def test_stalled_stream_after_first_chunk_raises(patient_autojump_clock):
    with trio.fail_after(60):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY, chunk_delay_s=30)) as server, \
                http_client() as http:
            audio = await openai_synth(server, http, timeout_s=2.0).synthesize("Hello")
            with pytest.raises(SpeechError) as caught:
                await read_all(audio)
    assert str(caught.value) == "OpenAI TTS audio stream stalled for more than 2000ms"


@pytest.mark.parametrize(("fake", "status", "expected"), [
    ("openai", 401, "OpenAI TTS error: 401 Incorrect API key provided: ***."),
    ("openai", 500, "OpenAI TTS error: 500 The server had an error while processing your "
                    "request."),
    ("elevenlabs", 401, "ElevenLabs TTS error: 401 Invalid API key: ***"),
    ("elevenlabs", 500, "ElevenLabs TTS error: 500 The server had an error while processing "
                        "your request."),
])
async def test_http_errors_never_show_the_key(patient_autojump_clock, fake, status, expected):
    used_key = "sk-live-do-not-print-7c1e"  # the fakes echo a wrong key in their 401 body
    fail_status = 500 if status == 500 else None
    if fake == "openai":
        server: FakeTtsServer = FakeOpenAISpeech(OPENAI_KEY, fail_status=fail_status)
        key = used_key if status == 401 else OPENAI_KEY
        make = openai_synth
    else:
        server = FakeElevenLabsSpeech(ELEVEN_KEY, voice_id=VOICE_ID, fail_status=fail_status)
        key = used_key if status == 401 else ELEVEN_KEY
        make = eleven_synth
    with trio.fail_after(10):
        async with serve_fake(server), http_client() as http:
            with pytest.raises(SpeechError) as caught:
                await make(server, http, api_key=key).synthesize("Hello")
    assert str(caught.value) == expected
    assert key not in repr(caught.value)
    assert caught.value.__cause__ is None


async def test_unreachable_server_is_a_speech_error():
    with socket.socket() as probe:  # a port that was just free and is now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(10):
        async with http_client() as http:
            synth = OpenAISynthesizer(http=http, api_key=OPENAI_KEY,
                                      base_url=f"http://127.0.0.1:{port}/v1")
            with pytest.raises(SpeechError) as caught:
                await synth.synthesize("Hello")
    assert str(caught.value).startswith("OpenAI TTS request failed: ")
    assert OPENAI_KEY not in str(caught.value)


async def test_closing_the_chunks_early_disconnects_the_server(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY, chunk_delay_s=1.0)) as server, \
                http_client() as http:
            audio = await openai_synth(server, http).synthesize("A long story")
            await anext(audio.chunks)
            await audio.chunks.aclose()
            closed_at = trio.current_time()
            await server.streams[0].disconnected.wait()
            assert trio.current_time() == closed_at  # at once, not at the next chunk
    (log,) = server.streams
    assert log.finished_at is None and len(log.chunks_sent_at) == 1


async def test_closing_unread_chunks_disconnects_the_server(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY, first_chunk_delay_s=1.0)) as server, \
                http_client() as http:
            audio = await openai_synth(server, http).synthesize("Never mind")
            await audio.chunks.aclose()
            await server.streams[0].disconnected.wait()
    assert server.streams[0].chunks_sent_at == []


async def test_the_client_is_reused_after_a_finished_stream(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY)) as server, http_client() as http:
            synth = openai_synth(server, http)
            first = await read_all(await synth.synthesize("One"))
            second = await read_all(await synth.synthesize("Two"))
    assert first == second == server.audio
    assert [log.disconnected.is_set() for log in server.streams] == [False, False]


@pytest.mark.parametrize(("toml", "env", "reason"), [
    ('[tts]\nprovider = "edge"\n', {"OPENAI_API_KEY": OPENAI_KEY},
     "Edge TTS is ignored for calls"),
    ("", {}, "OpenAI TTS needs an API key: set tts.openai.apiKey or OPENAI_API_KEY"),
    ('[tts]\nprovider = "elevenlabs"\n', {"OPENAI_API_KEY": OPENAI_KEY},
     "ElevenLabs TTS needs an API key: set tts.elevenlabs.apiKey or ELEVENLABS_API_KEY"),
])
async def test_no_synthesizer_without_a_usable_provider(toml, env, reason):
    tts = tts_block(toml, env)
    async with http_client() as http:
        assert make_synthesizer(tts, http=http) is None
    assert tts_unavailable_reason(tts) == reason


@pytest.mark.parametrize(("toml", "env", "kind"), [
    ("", {"OPENAI_API_KEY": OPENAI_KEY}, OpenAISynthesizer),
    ('[tts.openai]\napiKey = "sk-from-file"\n', {}, OpenAISynthesizer),
    ('[tts]\nprovider = "elevenlabs"\n', {"ELEVENLABS_API_KEY": ELEVEN_KEY},
     ElevenLabsSynthesizer),
])
async def test_provider_selection(toml, env, kind):
    tts = tts_block(toml, env)
    async with http_client() as http:
        synth = make_synthesizer(tts, http=http)
    assert isinstance(synth, kind)
    assert tts_unavailable_reason(tts) is None
    assert OPENAI_KEY not in repr(synth) and ELEVEN_KEY not in repr(synth)


async def test_cancelling_a_read_closes_the_response(patient_autojump_clock):
    with trio.fail_after(10):
        async with serve_fake(FakeOpenAISpeech(OPENAI_KEY, chunk_delay_s=30)) as server, \
                http_client() as http:
            audio = await openai_synth(server, http).synthesize("Hello")
            with trio.move_on_after(1.0):
                while True:  # no aclosing here: cancellation alone must release the response
                    await anext(audio.chunks)
            await server.streams[0].disconnected.wait()
    assert len(server.streams[0].chunks_sent_at) == 1
