"""Opt-in call recording on every carrier (issue 15, item 3), through each carrier's simulator
and a real ``voicecall daemon run``.

A call placed with ``--record`` (or any call, with ``recording.enabled``) is recorded by the
carrier once answered; after the hang-up the carrier's report puts the recording's URL and
duration on the ended call (``status``) and in a ``call.recording`` event. A call without
either is never recorded: the carrier is never asked to.
"""

from __future__ import annotations

from typing import Any

import trio

from tests.conformance.carriers import CarrierHarness
from tests.conformance.session import ALLOWED, Session, open_session

GREETING = "Hi, this call is recorded."
TALK_S = 1.2  # the calls last this long after the greeting, so the recording has a duration
SETTLE_S = 0.5  # long enough for a recording nobody asked for to show


async def recording_events(s: Session, call_id: str) -> list[dict[str, Any]]:
    return [e["data"] for e in await s.events()
            if e["type"] == "call.recording" and e["callId"] == call_id]


async def check_recorded(s: Session, carrier: CarrierHarness, call_id: str) -> None:
    """The ended call shows the one recording the carrier made, as the carrier reported it."""
    call = await s.wait_call(call_id, lambda c: c.get("recording"), "the call's recording")
    assert call["endedAt"] is not None
    [(url, duration)] = carrier.recordings(call["providerCallId"])
    assert duration >= 1, "the call lasted over a second"
    assert call["recording"] == {"url": url, "durationSec": duration}
    assert await recording_events(s, call_id) == [{"url": url, "durationSec": duration}]


async def test_a_call_placed_with_record_has_its_recording_after_the_hang_up(
        carrier: CarrierHarness) -> None:
    with trio.fail_after(60):
        async with open_session(carrier) as s:
            placed = await s.cli_json("call", "--mode", "conversation", "--message", GREETING,
                                      "--record")
            recorded = placed["callId"]
            plain = await s.place(GREETING)
            pids = {call_id: (await s.answered(call_id))["providerCallId"]
                    for call_id in (recorded, plain)}
            await trio.sleep(TALK_S)
            for call_id in (recorded, plain):
                assert await s.cli_json("end", "--call-id", call_id) == {"success": True}
            await check_recorded(s, carrier, recorded)
            await trio.sleep(SETTLE_S)
            unrecorded = await s.call(plain)
            assert unrecorded["endedAt"] is not None and "recording" not in unrecorded
            assert carrier.recordings(pids[plain]) == []
            assert await recording_events(s, plain) == []


async def test_recording_enabled_records_every_call_inbound_ones_too(
        carrier: CarrierHarness) -> None:
    with trio.fail_after(60):
        async with open_session(carrier, config={"recording": {"enabled": True}}) as s:
            pid = await carrier.place_inbound(ALLOWED)
            call_id = (await s.inbound_call(pid))["callId"]
            await s.answered(call_id)
            await trio.sleep(TALK_S)
            assert await s.cli_json("end", "--call-id", call_id) == {"success": True}
            await check_recorded(s, carrier, call_id)
