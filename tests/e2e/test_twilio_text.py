"""Speech text with characters XML cannot carry, on a real daemon against the Twilio simulator
(which parses TwiML as Twilio does and drops a call whose document is not well-formed): the call
stays up and the words are spoken (issue #14 item 6)."""

from __future__ import annotations

import trio

from .conftest import cli_json
from .test_twilio import twilio_daemon, wait_call

AWKWARD = "Line one\fline two\vthree\x1bend."
SPOKEN = "Line one line two three end."


async def test_form_feeds_and_vertical_tabs_in_speech_keep_the_call_up() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            placed = await cli_json(daemon, "call", "--message", "Hello\fthere.")
            call_id = placed["callId"]
            call = await wait_call(daemon, call_id, lambda c: c["answeredAt"], "the answer")
            sid = call["providerCallId"]
            assert await cli_json(daemon, "speak", call_id, "--message", AWKWARD) == {
                "success": True}
            await sim.wait_for(lambda: SPOKEN in sim.calls[sid].spoken)
            assert sim.calls[sid].errors == []
            assert sim.calls[sid].spoken[0] == "Hello there."
            assert (await wait_call(daemon, call_id, lambda c: True, "status"))["endedAt"] is None
            assert await cli_json(daemon, "end", call_id) == {"success": True}
            ended = await sim.wait_ended(sid)
            assert ended.errors == [] and ended.hangups == 1


async def test_a_notify_call_with_a_form_feed_is_spoken_and_completes() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            placed = await cli_json(daemon, "call", "--mode", "notify", "--message", AWKWARD)
            sid = (await wait_call(daemon, placed["callId"], lambda c: c["providerCallId"],
                                   "the dial"))["providerCallId"]
            done = await sim.wait_ended(sid)
            assert done.errors == [] and done.spoken == [SPOKEN]
            assert done.status == "completed"
