"""Speech over Twilio Media Streams, end to end: a real daemon, the Twilio simulator with its
media client, and local fakes of OpenAI's speech endpoint and Realtime transcription socket
that speak the real wire formats."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from tests.daemon.playout import playout
from tests.speech.fakes.chat_server import ChatScript, run_chat_server
from tests.speech.fakes.realtime_server import open_realtime_server
from tests.speech.fakes.tts_servers import FakeOpenAISpeech, serve_fake
from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream
from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .conftest import until
from .test_twilio import call_state, call_with_stream, cli_json, twilio_daemon, wait_call

KEY = "sk-test-0123456789abcdef"
SILENCE = b"\xff" * 160

SPEECH = """
[streaming]
enabled = true
sttProvider = "openai-realtime"
openaiApiKey = "{key}"
openaiRealtimeUrl = "{stt}"

[tts]
provider = "openai"

[tts.openai]
apiKey = "{key}"
baseUrl = "{tts}"
"""


def speech_config(tts, stt) -> str:
    return SPEECH.format(key=KEY, stt=stt.url, tts=tts.base_url)


def model_at(chat=None) -> str:
    """The top-level config line for the model's API: the chat fake, or a closed loopback
    port when a test has none (never the internet)."""
    url = chat.base_url if chat else "http://127.0.0.1:9/v1"
    return f'responseBaseUrl = "{url}"\n'


async def test_tts_audio_streams_into_the_call_before_synthesis_ends() -> None:
    # 2 s of audio, synthesised in 10 chunks 0.2 s apart: about 2 s to produce.
    fake = FakeOpenAISpeech(KEY, chunk_count=10, chunk_ms=200, chunk_delay_s=0.2)
    with trio.fail_after(90):
        async with serve_fake(fake) as tts, open_realtime_server(KEY) as stt, \
                twilio_daemon(extra_config=speech_config(tts, stt),
                              top_config=model_at()) as (daemon, sim):
            greeting = "Hello from the clinic."
            call_id, sid, request = await call_with_stream(daemon, sim, greeting)
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
                speech = [m for m in stream.media if m.payload != SILENCE]
            assert fake.requests[0].body["input"] == greeting
            frames = playout([(m.at, m.payload) for m in speech]).frames  # whole 20 ms frames
            assert all(len(m.payload) <= 800 for m in stream.media)  # up to 100 ms a message
            # 2 s of 24 kHz PCM become 100 frames of 20 ms (a frame of rounding either way).
            assert 98 <= frames <= 102, frames
            synthesis_done = fake.streams[0].finished_at
            assert synthesis_done is not None and speech[0].at < synthesis_done


async def test_a_turn_hears_the_caller_through_realtime_transcription() -> None:
    fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    with trio.fail_after(90):
        async with serve_fake(fake) as tts, open_realtime_server(KEY) as stt, \
                twilio_daemon(extra_config=speech_config(tts, stt),
                              top_config=model_at()) as (daemon, sim):
            call_id, sid, request = await call_with_stream(daemon, sim, "Hi.")
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                session = await stt.wait_for_session(1)
                update = await session.wait_for_update()
                assert update["session"]["input_audio_format"] == "g711_ulaw"
                await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
                result: dict = {}

                async def turn() -> None:
                    result.update(await cli_json(daemon, "continue", "--call-id", call_id,
                                                 "--message", "Does ten work?"))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(turn)
                    await wait_call(daemon, call_id, lambda c: c["state"] == "listening",
                                    "listening")
                    await stream.send_audio(Tone(300.0, 0.3))  # the caller speaks...
                    heard = await session.wait_for_audio(0.3 * 8000)
                    assert len(heard) >= 2400  # ...and the audio reaches the transcriber
                    await session.speech_started()
                    await session.delta("Ten works")
                    await session.completed("Ten works for me.")
                assert result == {"success": True, "transcript": "Ten works for me."}
                shown = await trio.to_thread.run_sync(lambda: daemon.cli(
                    "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
                partials = [e["data"] for e in map(json.loads, shown.splitlines())
                            if e["type"] == "call.transcript" and not e["data"]["isFinal"]]
                assert partials == [{"speaker": "user", "text": "Ten works", "isFinal": False}]

                # The transcription socket drops: the daemon reconnects and the call goes on.
                await session.drop()
                again = await stt.wait_for_session(2)
                async with trio.open_nursery() as nursery:
                    result.clear()
                    nursery.start_soon(turn)
                    # The call is still "listening" from the first turn: wait for the second
                    # prompt to have been spoken, so the turn is really waiting now.
                    await wait_call(daemon, call_id, lambda c: c["state"] == "listening" and [
                        t["text"] for t in c["transcript"]].count("Does ten work?") == 2,
                        "the second turn")
                    await again.completed("Still ten.")
                assert result["transcript"] == "Still ten."
            final = await call_state(daemon, call_id)
            assert final["metadata"]["turnCount"] == 2


async def open_inbound_stream(daemon, sim, stt):
    webhook = daemon.health()["webhookUrl"]
    sid = await sim.place_inbound(from_="+15550007777", to="+15550009999", webhook_url=webhook)
    request = await sim.wait_for_stream(sid)
    return sid, request


@dataclass
class ModelCall:
    """An inbound Twilio call the model answers, greeted and streaming (see
    :func:`model_answered_call`)."""

    daemon: Any
    stream: Any  # the caller's media stream
    session: Any  # the daemon's realtime transcription session
    chat: Any  # the chat-model fake
    call_id: str


@asynccontextmanager
async def model_answered_call(tts_fake: FakeOpenAISpeech, script: ChatScript
                              ) -> AsyncIterator[ModelCall]:
    """A real daemon (open inbound policy, streaming, OpenAI speech and model at the fakes),
    one inbound caller on its media stream, once the greeting is in the transcript."""
    async with serve_fake(tts_fake) as tts, open_realtime_server(KEY) as stt, \
            run_chat_server(KEY, script) as chat, \
            twilio_daemon(extra_config=speech_config(tts, stt), top_config=model_at(chat),
                          policy="open") as (daemon, sim):
        sid, request = await open_inbound_stream(daemon, sim, stt)
        async with open_twilio_media_stream(request.url, call_sid=sid,
                                            token=request.token) as stream:
            session = await stt.wait_for_session(1)
            [call] = (await cli_json(daemon, "status"))["calls"]
            call_id = call["callId"]
            await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
            yield ModelCall(daemon, stream, session, chat, call_id)


async def test_inbound_caller_is_answered_by_the_model_sentence_by_sentence() -> None:
    tts_fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    script = ChatScript(pieces=["Sure, ten ", "works. ", "See you ", "then!"],
                        delay_between_s=0.05)
    with trio.fail_after(90):
        async with model_answered_call(tts_fake, script) as call:
            daemon, stream, session = call.daemon, call.stream, call.session
            chat, call_id = call.chat, call.call_id
            heard_before = len(stream.media)
            await stream.send_audio(Tone(300.0, 0.3))  # the caller asks...
            assert len(await session.wait_for_audio(2400)) >= 2400  # ...the STT hears it
            await session.speech_started()
            await session.emit({"type": "input_audio_buffer.speech_stopped",
                                "event_id": "ev_stop", "audio_end_ms": 900,
                                "item_id": "item_1"})
            await trio.sleep(0.05)  # the transcription takes a moment after the pause
            await session.completed("Can I come at ten?")
            done = await wait_call(
                daemon, call_id, lambda c: len(c["transcript"]) >= 4, "the reply")
            assert [(t["speaker"], t["text"]) for t in done["transcript"]][1:] == [
                ("user", "Can I come at ten?"), ("bot", "Sure, ten works."),
                ("bot", "See you then!")]
            assert len(stream.media) > heard_before  # the reply was heard
            waterfall = (await call_state(daemon, call_id))["metadata"]["lastReplyWaterfall"]
            steps = ["endOfSpeechMs", "transcriptMs", "firstTokenMs", "replyMs",
                     "firstTtsByteMs", "audioMs"]
            assert list(waterfall) == steps and waterfall["endOfSpeechMs"] == 0
            assert [waterfall[k] for k in steps] == sorted(waterfall[k] for k in steps)
            human = await trio.to_thread.run_sync(lambda: daemon.cli(
                "status", "--call-id", call_id, check=True).stdout)
            assert "last reply" in human and "first audio" in human
            sent = chat.requests[0].body
            assert sent["stream"] is True and sent["model"] == "gpt-4o-mini"
            assert sent["messages"][-1] == {"role": "user", "content": "Can I come at ten?"}
            assert sent["messages"][0]["role"] == "system"
            spoken = [r.body["input"] for r in tts_fake.requests]
            assert spoken[-2:] == ["Sure, ten works.", "See you then!"]


async def test_a_reply_is_dropped_when_the_caller_speaks_again_first() -> None:
    tts_fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    script = ChatScript(pieces=["Okay."], release=trio.Event())
    with trio.fail_after(90):
        async with model_answered_call(tts_fake, script) as call:
            daemon, session, chat, call_id = call.daemon, call.session, call.chat, call.call_id
            await session.completed("First question?")
            await until(lambda: len(chat.requests) == 1, "the model to get the question")
            await session.completed("Actually, second question?")  # it is still thinking
            await until(lambda: len(chat.requests) == 2, "the model to get the second one")
            script.release.set()  # both replies come now; the first is stale
            done = await wait_call(
                daemon, call_id, lambda c: c["transcript"][-1]["text"] == "Okay.",
                "the reply")
            await trio.sleep(1.5)  # time for a stale first reply to show up, if any
            final = await call_state(daemon, call_id)
            assert len(chat.requests) == 2
            bot_replies = [t for t in final["transcript"][1:] if t["speaker"] == "bot"]
            assert [t["text"] for t in bot_replies] == ["Okay."]  # only the current reply
            assert done["transcript"][-2]["text"] == "Actually, second question?"


async def test_the_greeting_is_synthesised_while_the_call_rings() -> None:
    # Synthesis takes 1 s to start; the callee takes about 2 s to pick up.
    fake = FakeOpenAISpeech(KEY, chunk_count=4, chunk_ms=250, chunk_delay_s=0.05,
                            headers_delay_s=1.0)
    callee = CalleeScript(ring_delay_s=1.0, answer_delay_s=1.0)
    with trio.fail_after(90):
        async with serve_fake(fake) as tts, open_realtime_server(KEY) as stt, \
                twilio_daemon(callee, extra_config=speech_config(tts, stt),
                              top_config=model_at()) as (daemon, sim):
            _, sid, request = await call_with_stream(daemon, sim, "Good morning!")
            started = trio.current_time()
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await stream.wait_for(lambda s: any(m.payload != SILENCE for m in s.media))
            assert len(fake.requests) == 1 and fake.requests[0].body["input"] == "Good morning!"
            assert fake.streams[0].headers_sent_at < started  # synthesised before the stream
            # ...and played the moment it started: the stream's very first frame is the greeting,
            # no silence while synthesis catches up (first-audio time: tests/bench/bench_pacing.py)
            assert stream.media[0].payload != SILENCE
