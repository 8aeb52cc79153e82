"""When the realtime model is not there: a real daemon on the Twilio simulator (what happens is
the daemon's, not the carrier's, so one carrier is enough) with the local fake Realtime API
refusing every handshake, or failing a reply.

What a user checks: with the cascaded ``streaming`` voice configured the call carries on with
it (the greeting is still said, the caller is still heard) and an event says why; without it
the call is hung up with reason ``error`` and an event says why; a reply the API fails is an
event and is asked again. The caller never sits in silence without an event saying why.
"""

from __future__ import annotations

from typing import Any

import trio

from tests.conformance.carrier_twilio import TwilioHarness
from tests.conformance.session import HEARD_OVER_STREAM, common_config, open_session
from tests.conformance.test_provider_conformance import said
from tests.conformance.test_realtime_voice import KEY, REPLIES, events_of, realtime_config
from tests.speech.fakes.realtime_voice_server import open_realtime_voice_server

GREETING = "Hello, this is the clinic calling."


def streaming_too() -> dict[str, Any]:
    """The cascaded voice of the suite's media sessions (scripted transcription, tone TTS)."""
    return {"streaming": common_config("twilio", "/unused", media=True)["streaming"]}


async def test_without_the_model_a_call_falls_back_to_the_streaming_voice() -> None:
    carrier = TwilioHarness()
    with trio.fail_after(60):
        async with open_realtime_voice_server(KEY) as fake:
            fake.refuse_status = 503
            async with open_session(carrier, config={**realtime_config(fake),
                                                     **streaming_too()}) as s:
                # (answered: the greeting is said by the cascaded voice after all)
                async with s.streamed_call(GREETING) as (call_id, _pid, caller):
                    assert caller.frames
                    events = await events_of(s, call_id, "call.realtime")
                    [fallback] = [e for e in events if e["event"] == "fallback"]
                    assert "503" in fallback["reason"]
                    async with trio.open_nursery() as nursery:
                        answer = s.cli_json_soon(nursery, "continue", "--call-id", call_id,
                                                 "--message", "Any questions?")
                        await s.wait_call(call_id, lambda c: ("bot", "Any questions?")
                                          in said(c), "the question")
                        await caller.talk(0.5)
                    assert answer["transcript"] == HEARD_OVER_STREAM[0]  # heard by streaming
                assert len(fake.rejections) >= 3  # the first try and its reconnects
                assert fake.sessions == []


async def test_without_the_model_or_a_streaming_voice_the_call_is_hung_up_with_a_reason(
        ) -> None:
    carrier = TwilioHarness()
    with trio.fail_after(60):
        async with open_realtime_voice_server(KEY) as fake:
            fake.refuse_status = 503
            async with open_session(carrier, config=realtime_config(fake)) as s:
                call_id = await s.place(GREETING)
                pid = await s.provider_id(call_id)
                async with carrier.media_caller(pid):
                    ended = await s.wait_call(call_id, lambda c: c["endedAt"], "the hang-up")
                assert ended["endReason"] == "error"
                assert carrier.hangups(pid) == 1
                [failed] = [e for e in await events_of(s, call_id, "call.realtime")
                            if e["event"] == "failed"]
                assert "503" in failed["reason"]
                errors = [e["message"] for e in await events_of(s, call_id, "call.error")]
                assert any("realtime voice unavailable" in m for m in errors), errors
                assert KEY not in str(await s.events())


async def test_a_reply_the_api_fails_is_an_event_and_is_asked_again() -> None:
    carrier = TwilioHarness()
    with trio.fail_after(60):
        async with open_realtime_voice_server(KEY) as fake, \
                open_session(carrier, config=realtime_config(fake)) as s:
            fake.replies = list(REPLIES)
            async with s.streamed_call(GREETING) as (call_id, _pid, caller):
                session = await fake.wait_for_session(1)
                session.fail_next_response(code="rate_limit_exceeded",
                                           message="Rate limit reached")
                await caller.talk(0.4)
                await s.wait_call(call_id, lambda c: ("bot", REPLIES[0]) in said(c),
                                  "the reply, asked again")
            [failed, retried] = [r.status for r in session.responses[1:]]
            assert (failed, retried) == ("failed", "completed")
            errors = [e["message"] for e in await events_of(s, call_id, "call.error")]
            assert any("rate_limit_exceeded" in m and "Rate limit reached" in m
                       for m in errors), errors
