"""Realtime voice on every carrier that streams: a real ``voicecall daemon run`` speaks calls
through a local fake of OpenAI's Realtime speech-to-speech API (the GA event protocol), on the
carrier's simulated media stream, whose marks are echoed when their audio has played out.

What a user checks: the greeting is the model's first audio, and there is exactly one even when
the callee talks over it; a caller's turn gets one model reply, with both transcripts and a
latency waterfall; barge-in clears the carrier's playback, cancels the response and truncates
the model's item at what the caller heard; ``speak``, ``continue`` and ``end`` work from the
CLI; a dropped session reconnects and carries on with the transcript; the model's ``end_call``
hangs up with its reason in ``tail``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.conformance.session import ALLOWED, INBOUND_GREETING, open_session
from tests.conformance.test_provider_conformance import said
from tests.speech.fakes.realtime_voice_audio import say_text
from tests.speech.fakes.realtime_voice_server import (
    FakeRealtimeVoiceServer,
    open_realtime_voice_server,
)

KEY = "sk-realtime-conformance"
HEARD = ["Hello?", "Is ten o'clock free?", "Sorry, one thing first.", "Tuesday works.",
         "Bye now."]
REPLIES = ["Ten o'clock is free.", "Let me tell you all about our many services.",
           "Of course, go ahead."]


def realtime_config(fake: FakeRealtimeVoiceServer, **extra: Any) -> dict[str, Any]:
    return {"realtime": {"enabled": True, "apiKey": KEY, "baseUrl": fake.base_url,
                         "silenceDurationMs": 300, "maxReconnects": 2, **extra}}


def said_by_model(session: Any) -> list[str | None]:
    """What each response was asked to say verbatim (None: the model's own reply)."""
    return [say_text(r.instructions or "") if r.instructions else None
            for r in session.responses]


def heard_s(caller: Any, since: int = 0) -> float:
    return sum(len(p) for _, p in caller.frames[since:]) / caller.frame_bytes * 0.020


async def events_of(s: Any, call_id: str, kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in await s.events() if e["type"] == kind and e["callId"] == call_id]


@pytest.mark.needs("media")
async def test_an_outbound_call_greets_once_answers_is_cut_at_what_was_heard_and_obeys_the_cli(
        carrier) -> None:
    greeting = "Hello, this is the clinic calling."
    with trio.fail_after(90):
        async with open_realtime_voice_server(KEY) as fake, \
                open_session(carrier, config=realtime_config(fake)) as s:
            fake.heard, fake.replies, fake.reply_ms = list(HEARD), list(REPLIES), 2500
            call_id = await s.place(greeting)
            pid = await s.provider_id(call_id)
            # The session opens while the call rings, and the greeting is asked for then.
            session = await fake.wait_for_session(1)
            await session.wait_for_response(1)
            async with carrier.media_caller(pid) as caller:
                caller.paced_marks = True
                session.reply_ms = 600
                await s.until(lambda: caller.frames, "the greeting's first audio")
                assert caller.frames[0][1] == bytes(session.responses[0].audio[:len(
                    caller.frames[0][1])])  # the model's own audio, not a placeholder
                await caller.talk(0.4)  # "Hello?" over the greeting: no second greeting
                await s.answered(call_id)
                await trio.sleep(0.5)
                assert said_by_model(session) == [greeting]

                # A turn: the caller asks, the model answers once.
                await caller.talk(0.5)
                call = await s.wait_call(call_id, lambda c: ("bot", REPLIES[0]) in said(c),
                                         "the model's reply")
                assert ("user", HEARD[1]) in said(call)
                assert said_by_model(session) == [greeting, None]
                [latency] = await events_of(s, call_id, "call.latency")
                assert latency["endOfSpeechMs"] == 0
                assert 0 <= latency["modelAudioMs"] <= latency["audioMs"]
                [row] = (await s.cli_json("latency", "--call-id", call_id))["turns"]
                assert row["modelAudioMs"] == latency["modelAudioMs"]
                assert (await s.call(call_id))["metadata"]["lastReplyWaterfall"] == latency

                # Barge-in: cut a long reply 1.5 s in, while the model still produces it.
                session.reply_ms, session.delta_interval_s = 6000, 0.09
                before = len(caller.frames)
                await caller.talk(0.5)
                await s.until(lambda: heard_s(caller, before) >= 1.5, "1.5 s of the reply")
                first_at = caller.frames[before][0]
                session.reply_ms = 600  # (the answer to the interruption)
                clears = len(caller.clears)
                await caller.talk(0.5)
                await s.until(lambda: len(caller.clears) > clears, "the clear")
                truncate = await session.wait_for_truncate()
                played_ms = (caller.clears[clears] - first_at) * 1000
                assert abs(truncate["audio_end_ms"] - played_ms) <= 250, (truncate, played_ms)
                assert session.responses[2].status == "cancelled"
                session.delta_interval_s = 0.02
                interrupted = [e for e in await events_of(s, call_id, "call.realtime")
                               if e["event"] == "interrupted"]
                assert interrupted and interrupted[0]["playedMs"] == truncate["audio_end_ms"]
                await s.wait_call(call_id, lambda c: ("bot", REPLIES[2]) in said(c),
                                  "the answer to the interruption")
                call = await s.call(call_id)
                cut = [text for who, text in said(call) if who == "bot"
                       and text.endswith(" ...")]  # what the caller heard of the long reply
                assert len(cut) == 1 and REPLIES[1].startswith(cut[0][:-4]), said(call)

                # speak: said verbatim; continue: said, then the caller's next words.
                assert await s.cli_json("speak", "--call-id", call_id,
                                        "--message", "Please hold.") == {"success": True}
                assert said_by_model(session)[-1] == "Please hold."
                replies = said_by_model(session).count(None)
                async with trio.open_nursery() as nursery:
                    answer = s.cli_json_soon(nursery, "continue", "--call-id", call_id,
                                             "--message", "Which day suits you?")
                    await session.wait_for(
                        lambda: said_by_model(session)[-1] == "Which day suits you?"
                        and session.responses[-1].finished)
                    await trio.sleep(0.8)  # it plays out
                    await caller.talk(0.5)
                assert answer["transcript"] == HEARD[4]
                await trio.sleep(0.5)
                assert said_by_model(session).count(None) == replies  # the agent's turn
                assert (await s.cli_json("end", "--call-id", call_id))["success"] is True
            ended = await s.wait_call(call_id, lambda c: c["endedAt"], "the end")
            assert ended["endReason"] == "hangup-bot"
            with trio.fail_after(5):
                await session.closed.wait()


@pytest.mark.needs("media")
async def test_an_inbound_call_survives_a_dropped_session_and_the_model_can_hang_up(
        carrier) -> None:
    # (a greeting as written in a config, trailing space and all: said once, not twice)
    with trio.fail_after(60):
        async with open_realtime_voice_server(KEY) as fake, open_session(carrier, config={
                **realtime_config(fake), "inboundGreeting": INBOUND_GREETING + " "}) as s:
            fake.heard, fake.replies = list(HEARD), list(REPLIES)
            pid = await carrier.place_inbound(ALLOWED)
            call = await s.inbound_call(pid)
            call_id = call["callId"]
            # Opened at the inbound webhook, the greeting asked for before any stream.
            first = await fake.wait_for_session(1)
            await first.wait_for_response(1)
            async with carrier.media_caller(pid) as caller:
                caller.paced_marks = True
                await s.answered(call_id)  # the inbound greeting, said by the model
                assert said_by_model(first) == [INBOUND_GREETING]
                await caller.talk(0.4)
                await s.wait_call(call_id, lambda c: ("bot", REPLIES[0]) in said(c),
                                  "the first reply")

                await first.drop()  # the API goes away mid-call
                second = await fake.wait_for_session(2)
                context = second.updates[0]["instructions"]
                assert HEARD[0] in context and REPLIES[0] in context  # resumed with the call
                kinds = [e["event"] for e in await events_of(s, call_id, "call.realtime")]
                assert "reconnecting" in kinds
                second.queue_tool_call("end_call", {"reason": "the caller said goodbye"},
                                       with_audio=True)
                await caller.talk(0.4)  # "Bye now."... answered by the goodbye and the tool
                ended = await s.wait_call(call_id, lambda c: c["endedAt"], "the model's hang-up")
            assert ended["endReason"] == "hangup-bot"
            events = await events_of(s, call_id, "call.realtime")
            assert {"event": "end_call", "reason": "the caller said goodbye"} in events
            assert [e["event"] for e in events].count("resumed") == 1
