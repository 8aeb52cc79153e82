"""Touch tones (DTMF) both ways on every carrier, through its simulator and a real daemon.

Sent keys reach the carrier in its own notation (a ``W`` pause becomes ``ww`` on Twilio, which
has no ``W``) and are stored as ``call.dtmf`` ``out``; keys the caller presses are stored as
``call.dtmf`` ``in`` and answer a ``continue --accept dtmf`` (collected by the carrier's own
``<Gather>``/``<GetInput>``, or key by key until ``#`` on Telnyx and the mock).
"""

from __future__ import annotations

import pytest
import trio

from tests.conformance.session import Session, open_session

GREETING = "Hi, this is the clinic calling."
KEYS = "ww1W2#"
CARRIER_NOTATION = {"twilio": "ww1ww2#"}  # Twilio has no W: two half-second pauses


async def dtmf_events(s: Session, call_id: str) -> list[tuple[str, str]]:
    return [(e["data"]["direction"], e["data"]["digits"]) for e in await s.events()
            if e["type"] == "call.dtmf" and e["callId"] == call_id]


async def test_touch_tones_sent_reach_the_carrier_in_its_notation(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            assert await s.cli_json("dtmf", "--call-id", call_id, "--digits", KEYS) == {
                "success": True}
            sent = carrier.keys_sent(pid)
            assert sent is None or sent == [CARRIER_NOTATION.get(carrier.name, KEYS)]
            assert await dtmf_events(s, call_id) == [("out", KEYS)]
            # the call goes on: a turn still works after the tones
            turn = await s.cli_json("continue", "--call-id", call_id, "--message", "Ten?")
            assert turn["transcript"]
            bad = await s.cli("dtmf", "--call-id", call_id, "--digits", "12x")
            assert bad.returncode == 2 and "'x' is not a touch tone" in bad.stderr
            assert (await s.call(call_id))["endedAt"] is None


async def test_keys_pressed_answer_a_turn_that_accepts_dtmf(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            async with trio.open_nursery() as nursery:
                turn = s.cli_json_soon(nursery, "continue", "--call-id", call_id, "--message",
                                       "Press your code.", "--accept", "dtmf")
                await s.wait_call(call_id, lambda c: c["state"] == "listening",
                                  "the turn to listen")
                await carrier.press(pid, "42#")
            assert turn == {"success": True, "transcript": "42", "input": "dtmf",
                            "digits": "42"}
            pressed = [d for direction, d in await dtmf_events(s, call_id) if direction == "in"]
            assert "".join(pressed).rstrip("#") == "42"  # one event per key, or the whole
            call = await s.call(call_id)
            assert call["metadata"]["turnCount"] == 1 and call["endedAt"] is None


@pytest.mark.needs("media")
async def test_keys_pressed_on_a_media_stream_answer_a_turn(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier, media=True) as s:
            async with s.streamed_call("Hi.") as (call_id, _pid, caller), \
                    trio.open_nursery() as nursery:
                turn = s.cli_json_soon(nursery, "continue", "--call-id", call_id,
                                       "--message", "Your code?", "--accept", "both")
                await s.wait_call(call_id, lambda c: c["state"] == "listening",
                                  "the turn to listen")
                for key in "7#":
                    await caller.stream.send_dtmf(key)
            assert turn == {"success": True, "transcript": "7", "input": "dtmf",
                            "digits": "7"}
            assert [d for direction, d in await dtmf_events(s, call_id)
                    if direction == "in"] == ["7", "#"]
