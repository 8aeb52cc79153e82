"""What the README promises about speech on a running daemon (issue #14, item 21): `tts.timeoutMs`
bounds the wait for the first audio, a Twilio `<Gather>` transcript nobody's `continue` waits for
is answered by the model, and each stream auto-reply's waterfall is a `call.latency` event in
`tail`.

Real `voicecall daemon run` processes, the Twilio simulator, and loopback fakes of OpenAI's
speech, realtime and chat APIs. No real-clock bounds: every wait is on a state, with a hang guard.
"""

from __future__ import annotations

import json

import trio

from tests.speech.fakes.chat_server import ChatScript, run_chat_server
from tests.speech.fakes.realtime_server import open_realtime_server
from tests.speech.fakes.tts_servers import FakeOpenAISpeech, serve_fake
from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream
from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .conftest import until
from .test_speech_streams import KEY, model_answered_call, model_at, speech_config
from .test_twilio import call_state, call_with_stream, cli_json, twilio_daemon, wait_call


async def cli(daemon, *args: str):
    return await trio.to_thread.run_sync(lambda: daemon.cli(*args))


async def tail_events(daemon, call_id: str) -> list[dict]:
    out = (await cli(daemon, "tail", "--since", "all", "--no-follow", "--json")).stdout
    events = [json.loads(line) for line in out.splitlines()]
    return [e for e in events if e.get("callId") == call_id]


async def test_tts_timeout_ms_bounds_the_wait_for_first_audio_and_the_call_goes_on() -> None:
    # The speech API sends its headers after 4 s; tts.timeoutMs is 1000. With the default
    # (8000) the speech would succeed instead; the message names the configured bound.
    fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, headers_delay_s=4.0)
    with trio.fail_after(90):
        async with serve_fake(fake) as tts, open_realtime_server(KEY) as stt:
            config = speech_config(tts, stt).replace('[tts]\nprovider = "openai"\n',
                                                     '[tts]\nprovider = "openai"\n'
                                                     'timeoutMs = 1000\n')
            assert "timeoutMs = 1000" in config
            async with twilio_daemon(extra_config=config, top_config=model_at()) as (daemon,
                                                                                     sim):
                call_id, sid, request = await call_with_stream(daemon, sim, "Hello there.")
                async with open_twilio_media_stream(request.url, call_sid=sid,
                                                    token=request.token):
                    spoken = await cli(daemon, "speak", "--call-id", call_id, "--message",
                                       "Are you there?", "--json")
                    assert spoken.returncode == 1, (spoken.stdout, spoken.stderr)
                    error = json.loads(spoken.stdout)["error"]
                    assert error["code"] == "operation_failed"
                    assert "synthesis timed out after 1000ms" in error["message"], error
                    assert KEY not in spoken.stdout + spoken.stderr
                    call = await call_state(daemon, call_id)
                    assert call["endedAt"] is None  # a failed synthesis does not end the call


async def test_a_gather_transcript_nobody_waits_for_is_answered_by_the_model() -> None:
    # `continue` gives up after 1 s; the callee answers that Gather 4 s in. Its words then
    # belong to no turn: the model answers them and Twilio says the reply.
    callee = CalleeScript(replies=["Can I come at ten?"], reply_delay_s=4.0)
    script = ChatScript(pieces=["Sure, ten ", "works."])
    with trio.fail_after(90):
        async with run_chat_server(KEY, script) as chat, \
                twilio_daemon(callee, top_config=model_at(chat),
                              extra_config=f'[streaming]\nopenaiApiKey = "{KEY}"\n'
                              ) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", "Hello."))["callId"]
            await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
            turn = await cli(daemon, "continue", "--call-id", call_id, "--message",
                             "When suits you?", "--timeout", "1", "--json")
            assert turn.returncode == 5, (turn.stdout, turn.stderr)
            sid = (await call_state(daemon, call_id))["providerCallId"]
            await until(lambda: "Sure, ten works." in sim.calls[sid].spoken,
                        "Twilio to say the model's reply", timeout=60)
            call = await call_state(daemon, call_id)
    [request] = chat.requests
    assert request.body["messages"][-1] == {"role": "user", "content": "Can I come at ten?"}
    said = [(t["speaker"], t["text"]) for t in call["transcript"]]
    assert said[-2:] == [("user", "Can I come at ten?"), ("bot", "Sure, ten works.")]


async def test_a_stream_auto_reply_is_a_call_latency_event_in_tail() -> None:
    tts_fake = FakeOpenAISpeech(KEY, chunk_count=2, chunk_ms=100, chunk_delay_s=0.01)
    script = ChatScript(pieces=["Sure, ten works."])
    with trio.fail_after(90):
        async with model_answered_call(tts_fake, script) as call:
            daemon, stream, session = call.daemon, call.stream, call.session
            call_id = call.call_id
            await stream.send_audio(Tone(300.0, 0.3))
            await session.speech_started()
            await session.completed("Can I come at ten?")
            await wait_call(daemon, call_id, lambda c: any(
                t["text"] == "Sure, ten works." for t in c["transcript"]), "the reply")
            latency: list[dict] = []
            with trio.fail_after(30):
                while not latency:
                    latency = [e for e in await tail_events(daemon, call_id)
                               if e["type"] == "call.latency"]
                    await trio.sleep(0.05)
            status = await call_state(daemon, call_id)
    [event] = latency  # one auto-reply, one waterfall
    marks = ["transcriptMs", "firstTokenMs", "replyMs", "firstTtsByteMs", "audioMs"]
    waterfall = event["data"]
    assert [m for m in waterfall if m != "endOfSpeechMs"] == marks, waterfall
    assert [waterfall[m] for m in marks] == sorted(waterfall[m] for m in marks), waterfall
    # the same figures `status --call-id` shows
    assert waterfall == status["metadata"]["lastReplyWaterfall"]
    assert status["metadata"]["lastReplyLatencyMs"] == waterfall["audioMs"]
