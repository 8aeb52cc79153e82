"""The greeting-echo rule with transcription on (issue #14 item 20; reference 5.4): while an
outbound conversation greeting plays, what the caller's side sends back (most likely the
greeting's own echo) neither barges in nor becomes the caller's words. Once the greeting is
over, the same speech counts: the transcriber is live on this path all along.

A real daemon, the Twilio simulator, the simulator's media-stream client as Twilio's side of
the websocket, and the daemon's scripted transcriber (``streaming.sttProvider = "scripted"``),
which turns each burst of loud audio followed by silence into the next scripted transcript.
"""

from __future__ import annotations

import trio

from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream

from .test_twilio import call_state, call_with_stream, twilio_daemon, wait_call

ECHO_CONFIG = """
[streaming]
enabled = true
preStartTimeoutMs = 5000
sttProvider = "scripted"
scriptedTranscripts = ["Echo of the greeting.", "Yes, this is Sam."]
silenceDurationMs = 300
"""
# 23 words of the offline voice (2.5 words/s): about 9 s of greeting audio, so the echo below
# (sent from 0.5 s in, 1.1 s long) falls well inside it even on a loaded machine.
GREETING = ("Hello, this is the clinic calling to confirm your appointment for tomorrow "
            "morning at ten with Doctor Smith in room four, thank you.")


def user_words(call: dict) -> list[str]:
    return [t["text"] for t in call["transcript"] if t["speaker"] == "user"]


async def utterance(stream) -> None:
    """Loud audio for half a second, then silence long enough to end the utterance."""
    await stream.send_audio(Tone(300.0, 0.5))
    await stream.send_audio(Tone(300.0, 0.6, amplitude=0))


async def test_speech_during_the_outbound_greeting_neither_barges_in_nor_counts() -> None:
    with trio.fail_after(90):
        async with twilio_daemon(extra_config=ECHO_CONFIG) as (daemon, sim):
            call_id, sid, request = await call_with_stream(daemon, sim, GREETING)
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await stream.wait_for(lambda s: s.frames_received >= 25)  # the greeting plays
                await utterance(stream)  # heard while it still plays: the echo
                playing = await call_state(daemon, call_id)
                assert user_words(playing) == []  # the echo is not the caller's answer
                assert playing["transcript"] == []  # and the greeting still plays
                greeted = await wait_call(
                    daemon, call_id, lambda c: any(t["speaker"] == "bot"
                                                   for t in c["transcript"]),
                    "the greeting to finish")
                assert stream.clears == []  # never cut short
                assert user_words(greeted) == []  # the echo is not the caller's answer
                greeting_frames = len(GREETING.split()) / 2.5 * 50
                assert stream.frames_received >= 0.95 * greeting_frames  # all of it was sent
                assert [t["text"] for t in greeted["transcript"]] == [GREETING]

                await utterance(stream)  # after the greeting, speech is the caller's
                answered = await wait_call(daemon, call_id, user_words, "the caller's words")
            assert user_words(answered) == ["Yes, this is Sam."]
            assert sim.calls[sid].stream is not None
