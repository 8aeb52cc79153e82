"""Twilio Media Streams end to end: a real daemon, the Twilio simulator, and the simulator's
media-stream client standing in for Twilio's side of the websocket."""

from __future__ import annotations

import trio

from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream
from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .test_twilio import ALLOWED, call_state, call_with_stream, cli_json, twilio_daemon, wait_call

STREAMING = """
[streaming]
enabled = true
preStartTimeoutMs = 2000
"""


async def test_greeting_plays_over_the_stream_in_paced_frames() -> None:
    with trio.fail_after(60):
        async with twilio_daemon(extra_config=STREAMING) as (daemon, sim):
            health = daemon.health()
            assert health["streamUrl"].startswith("ws://127.0.0.1:")
            assert health["streamUrl"].endswith("/voice/stream")
            greeting = "Hi, this is the clinic calling about tomorrow."
            call_id, sid, request = await call_with_stream(daemon, sim, greeting)
            assert request.url == health["streamUrl"] and request.token
            started = trio.current_time()  # before the stream exists: the daemon paces after it
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stream.send_audio, Tone(300.0, 2.0))  # the callee talks
                    call = await wait_call(
                        daemon, call_id,
                        lambda c: any(t["speaker"] == "bot" for t in c["transcript"]),
                        "the greeting to finish")
                assert [t["text"] for t in call["transcript"]] == [greeting]
                assert stream.marks_echoed  # completion came from Twilio's mark echo
                # 8 words at 2.5 words/s of offline voice: about 3.2 s of 20 ms frames.
                assert len(stream.media) >= 150
                # Paced, not a burst: a lower bound only (jitter: tests/bench/bench_pacing.py).
                assert stream.media[-1].at - started >= 0.02 * (len(stream.media) - 10)
                assert all(len(m.payload) == 160 for m in stream.media)


async def test_second_inbound_caller_waits_in_the_hold_queue() -> None:
    with trio.fail_after(60):
        async with twilio_daemon(extra_config=STREAMING, policy="open") as (daemon, sim):
            webhook = daemon.health()["webhookUrl"]
            first = await sim.place_inbound(from_=ALLOWED, to="+15550009999", webhook_url=webhook)
            request = await sim.wait_for_stream(first)
            async with open_twilio_media_stream(request.url, call_sid=first,
                                                token=request.token):
                with trio.fail_after(10):
                    while not (await cli_json(daemon, "status"))["calls"]:
                        await trio.sleep(0.05)
                second = await sim.place_inbound(from_="+15550004321", to="+15550009999",
                                                 webhook_url=webhook)
                await sim.wait_for(lambda: sim.calls[second].queue is not None)
                assert sim.calls[second].queue == "hold-queue"
                assert sim.calls[second].stream is None


async def test_a_stream_that_does_not_come_back_ends_the_call() -> None:
    with trio.fail_after(60):
        async with twilio_daemon(extra_config=STREAMING) as (daemon, sim):
            call_id, sid, request = await call_with_stream(daemon, sim, "Hello.")
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await stream.wait_for(lambda s: len(s.media) > 5)
                await stream.send_stop()
            ended = await wait_call(daemon, call_id, lambda c: c["endedAt"], "the grace hang-up")
            assert ended["state"] == "hangup-bot"
            assert sim.calls[sid].hangups == 1
            assert (await call_state(daemon, call_id))["state"] == "hangup-bot"


SCRIPTED = STREAMING + """sttProvider = "scripted"
scriptedTranscripts = ["Ten works for me.", "Nothing else, thanks."]
silenceDurationMs = 400
"""


async def test_conversation_turns_over_the_stream_with_offline_transcription() -> None:
    callee = CalleeScript(replies=["Ten works for me.", "Nothing else, thanks."],
                          stream_audio=True, reply_delay_s=0.2, reply_seconds=0.8)
    with trio.fail_after(90):
        async with twilio_daemon(callee, extra_config=SCRIPTED) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", "Hi, the clinic here."))[
                "callId"]
            await wait_call(daemon, call_id, lambda c: c["answeredAt"], "the answer")
            turn = await cli_json(daemon, "continue", "--call-id", call_id,
                                  "--message", "Does ten work?")
            assert turn == {"success": True, "transcript": "Ten works for me."}
            second = await cli_json(daemon, "continue", "--call-id", call_id,
                                    "--message", "Anything else?")
            assert second["transcript"] == "Nothing else, thanks."
            call = await call_state(daemon, call_id)
            sid = call["providerCallId"]
            assert sim.calls[sid].gather_actions == []  # all of it over the stream
            assert [(t["speaker"], t["text"]) for t in call["transcript"]] == [
                ("bot", "Hi, the clinic here."), ("bot", "Does ten work?"),
                ("user", "Ten works for me."), ("bot", "Anything else?"),
                ("user", "Nothing else, thanks.")]
            assert call["metadata"]["turnCount"] == 2


async def test_caller_speech_barges_in_on_a_long_utterance() -> None:
    with trio.fail_after(60):
        async with twilio_daemon(extra_config=SCRIPTED) as (daemon, sim):
            call_id, sid, request = await call_with_stream(daemon, sim, "Hi.")
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await wait_call(daemon, call_id, lambda c: c["transcript"], "the greeting")
                long_text = " ".join(["This is a long announcement."] * 6)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(cli_json, daemon, "speak", "--call-id", call_id,
                                       "--message", long_text)
                    await stream.wait_for(lambda s: len(s.media) > 50)  # it is talking
                    before = len(stream.media)
                    await stream.send_audio(Tone(300.0, 0.5))  # the caller talks over it
                    await stream.wait_for(lambda s: s.clears)
                cleared_at = stream.clears[0]
                late = [m for m in stream.media if m.at > cleared_at + 0.1]
                assert late == []  # nothing of that utterance after the clear
                assert len(stream.media) - before < 12 * 50  # far short of the 12 s of text
