"""Provider conformance: the same user-visible behaviour on every carrier (DESIGN section 6).

Each test runs once per harness in ``carriers.HARNESSES`` (ids = carrier names) against a real
``voicecall daemon run`` process and the carrier's own simulator. The daemon is driven only
through the CLI and its control socket; the carrier's side is read from the simulator's
records. A test that does not apply to a carrier is skipped with the harness's reason; a known
product bug is a strict xfail declared by the harness.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio

from tests.conformance.carriers import CarrierHarness, Delivery
from tests.conformance.session import (
    ALLOWED,
    HEARD_OVER_STREAM,
    INBOUND_GREETING,
    OUR_NUMBER,
    REPLIES,
    STRANGER,
    TERMINAL,
    Session,
    open_session,
)

GREETING = "Hi, this is the clinic calling."
QUESTION = "Does ten work?"
FOLLOW_UP = "Anything else?"
SETTLE_S = 0.3  # long enough for a second hang-up or a late side effect to show


def said(call: dict[str, Any]) -> list[tuple[str, str]]:
    return [(t["speaker"], t["text"]) for t in call["transcript"]]


async def send(delivery: Delivery) -> httpx.Response:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        return await http.post(delivery.url, content=delivery.body, headers=delivery.headers)


async def heard_eventually(s: Session, carrier: CarrierHarness, pid: str, text: str) -> None:
    """Where the carrier's ears are observable, wait until it spoke ``text`` into the call."""
    if carrier.heard(pid) is not None:
        await s.until(lambda: text in (carrier.heard(pid) or []), f"the carrier to say {text!r}")


async def settled_hangups(s: Session, carrier: CarrierHarness, pid: str,
                          timeout: float = 5.0) -> int:
    """Carrier hang-ups of ``pid`` once the first arrived and a second had time to follow."""
    await s.until(lambda: carrier.hangups(pid) >= 1, "the carrier's hang-up", timeout=timeout)
    await trio.sleep(SETTLE_S)
    return carrier.hangups(pid)


# -- calls placed by the daemon ----------------------------------------------------------------

async def test_notify_call_delivers_its_message_and_ends_by_itself(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            message = "Your order has shipped."
            call_id = await s.place(message, mode="notify")
            ended = await s.wait_call(call_id, lambda c: c["endedAt"], "the notify call to end")
            assert ended["endReason"] in carrier.normal_end_reasons, ended
            assert ended["state"] == ended["endReason"]
            assert said(ended) == [("bot", message)]  # delivered, once
            heard = carrier.heard(ended["providerCallId"])
            assert heard is None or heard == [message]
            assert await s.active() == []


async def test_conversation_continue_returns_the_callee_reply_in_order(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            # at once, as a script would: the turn waits for the answer and the greeting
            first = await s.cli_json("continue", "--call-id", call_id, "--message", QUESTION)
            assert first == {"success": True, "transcript": REPLIES[0]}
            second = await s.cli_json("continue", "--call-id", call_id, "--message", FOLLOW_UP)
            assert second == {"success": True, "transcript": REPLIES[1]}
            call = await s.call(call_id)
            assert said(call) == [("bot", GREETING), ("bot", QUESTION), ("user", REPLIES[0]),
                                  ("bot", FOLLOW_UP), ("user", REPLIES[1])]
            assert call["metadata"]["turnCount"] == 2 and call["endedAt"] is None
            heard = carrier.heard(call["providerCallId"])
            if heard is not None:
                assert [h for h in heard if h in (GREETING, QUESTION, FOLLOW_UP)] == [
                    GREETING, QUESTION, FOLLOW_UP]


async def test_speak_into_a_live_call(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            text = "Please hold while I check."
            assert await s.cli_json("speak", "--call-id", call_id, "--message", text) == {
                "success": True}
            call = await s.call(call_id)
            assert said(call) == [("bot", GREETING), ("bot", text)]
            assert call["endedAt"] is None
            await heard_eventually(s, carrier, pid, text)
            assert carrier.hangups(pid) == 0


async def test_end_hangs_up_once(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            assert await s.cli_json("end", "--call-id", call_id) == {"success": True}
            call = await s.call(call_id)
            assert (call["state"], call["endReason"]) == ("hangup-bot", "hangup-bot")
            assert call["endedAt"] is not None
            assert await settled_hangups(s, carrier, pid) == 1
            assert await s.active() == []
            # Ending an ended call is no error and no second hang-up.
            assert await s.cli_json("end", "--call-id", call_id) == {"success": True}
            await trio.sleep(SETTLE_S)
            assert carrier.hangups(pid) == 1
            assert (await s.call(call_id))["endReason"] == "hangup-bot"


# -- inbound calls -----------------------------------------------------------------------------

async def test_inbound_allowlisted_caller_is_greeted(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            pid = await carrier.place_inbound(ALLOWED)
            call = await s.inbound_call(pid)
            assert (call["direction"], call["from"], call["to"]) == ("inbound", ALLOWED,
                                                                     OUR_NUMBER)
            greeted = await s.wait_call(call["callId"], lambda c: said(c), "the greeting")
            assert said(greeted) == [("bot", INBOUND_GREETING)]
            await heard_eventually(s, carrier, pid, INBOUND_GREETING)
            assert carrier.hangups(pid) == 0
            assert greeted["endedAt"] is None


async def test_inbound_caller_answers_continue(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            pid = await carrier.place_inbound(ALLOWED)
            call_id = (await s.inbound_call(pid))["callId"]
            turn = await s.cli_json("continue", "--call-id", call_id, "--message", QUESTION)
            assert turn == {"success": True, "transcript": REPLIES[0]}
            assert said(await s.call(call_id))[-2:] == [("bot", QUESTION), ("user", REPLIES[0])]


async def test_inbound_rejected_caller_is_hung_up_once(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            pid = await carrier.place_inbound(STRANGER)
            assert await settled_hangups(s, carrier, pid) == 1
            assert await s.active() == []
            kept = [c for c in await s.history() if c["providerCallId"] == pid]
            assert all(c["state"] in TERMINAL for c in kept), kept  # nothing left live
            rejected = [e for e in await s.events() if e["type"] == "call.rejected"]
            assert [e["data"]["from"] for e in rejected] == [STRANGER]


# -- webhook security --------------------------------------------------------------------------

async def answered_turn(s: Session) -> tuple[str, str]:
    """A live conversation call that has had one turn: (call id, provider call id)."""
    call_id = await s.place(GREETING)
    turn = await s.cli_json("continue", "--call-id", call_id, "--message", QUESTION)
    assert turn["transcript"] == REPLIES[0]
    return call_id, (await s.call(call_id))["providerCallId"]


async def snapshot(s: Session, carrier: CarrierHarness, call_id: str) -> dict[str, Any]:
    """What an operator would compare: the event log, the call, the live calls, and how much
    the carrier was asked to do."""
    call = await s.call(call_id)
    return {"events": await s.events(), "state": call["state"], "said": said(call),
            "ended": call["endedAt"], "active": [c["callId"] for c in await s.active()],
            "carrier": carrier.activity()}


async def test_replayed_webhook_is_acknowledged_and_changes_nothing(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id, pid = await answered_turn(s)
            genuine = carrier.delivery_with(pid, REPLIES[0])  # the callee's reply
            before = await snapshot(s, carrier, call_id)
            again = await send(genuine)
            assert 200 <= again.status_code < 300, (again.status_code, again.text)
            if genuine.response is not None:
                assert again.content == genuine.response  # the same answer as the first time
            await trio.sleep(SETTLE_S)
            after = await snapshot(s, carrier, call_id)
            assert after == before
            assert said(await s.call(call_id)).count(("user", REPLIES[0])) == 1


@pytest.mark.needs("signs_webhooks")
async def test_forged_webhooks_are_refused(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier) as s:
            call_id, pid = await answered_turn(s)
            genuine = carrier.delivery_with(pid, REPLIES[0])
            before = await snapshot(s, carrier, call_id)
            answers = {label: (await send(forged)).status_code
                       for label, forged in carrier.forgeries(genuine, ALLOWED).items()}
            assert answers and set(answers.values()) == {401}, answers
            await trio.sleep(SETTLE_S)
            assert await snapshot(s, carrier, call_id) == before


# -- restart after kill -9 ---------------------------------------------------------------------

async def test_restore_keeps_a_call_the_carrier_still_has(carrier) -> None:
    with trio.fail_after(60):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            dials = carrier.dials()
            await s.kill9()
            asked = carrier.status_queries(pid)
            await s.start()
            if asked is not None:  # the daemon asked the carrier before keeping the call
                await s.until(lambda: (carrier.status_queries(pid) or 0) > asked,
                              "a status query")
            call = await s.call(call_id)
            assert call["endedAt"] is None and call["state"] not in TERMINAL, call
            assert [c["callId"] for c in await s.active()] == [call_id]
            restored = [e for e in await s.events() if e["type"] == "call.restored"]
            assert [e["callId"] for e in restored] == [call_id]
            # The carrier still runs the call for the new daemon process.
            turn = await s.cli_json("continue", "--call-id", call_id, "--message", QUESTION)
            assert turn == {"success": True, "transcript": REPLIES[0]}
            assert carrier.dials() == dials  # never dialled again
            assert carrier.hangups(pid) == 0


@pytest.mark.needs("ends_calls_offline")
async def test_restore_ends_a_call_the_carrier_ended(carrier) -> None:
    with trio.fail_after(60):
        async with open_session(carrier) as s:
            call_id = await s.place(GREETING)
            pid = (await s.answered(call_id))["providerCallId"]
            await s.kill9()
            await carrier.end_on_carrier(pid)  # while the daemon is down
            asked = carrier.status_queries(pid)
            await s.start()
            ended = await s.wait_call(call_id, lambda c: c["endedAt"], "the restored end")
            if asked is not None:
                assert (carrier.status_queries(pid) or 0) > asked
            assert ended["state"] == ended["endReason"] == "completed", ended
            assert await s.active() == []
            assert carrier.hangups(pid) == 0  # it was over already: nothing to hang up


# -- media streams -----------------------------------------------------------------------------

@pytest.mark.needs("media")
async def test_streamed_speech_arrives_in_paced_20ms_frames(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier, media=True) as s:
            greeting = "Hello, the clinic calling again."  # 2 s of (offline) voice
            call_id = await s.place(greeting)
            pid = await s.provider_id(call_id)
            async with carrier.media_caller(pid) as caller:
                await s.wait_call(call_id, lambda c: ("bot", greeting) in said(c),
                                  "the greeting to play")
                frames = list(caller.frames)
            assert caller.marks_acknowledged  # completion came from the carrier's side
            # Whole 20 ms frames, up to five (100 ms) to a message.
            assert all(len(payload) % caller.frame_bytes == 0
                       and len(payload) <= 5 * caller.frame_bytes for _, payload in frames)
            audio_s = sum(len(payload) for _, payload in frames) / caller.frame_bytes * 0.020
            assert audio_s >= 1.6, audio_s  # about 2 s of speech
            # Paced on the playout clock (at most 200 ms ahead of it), not sent in a burst;
            # a slow machine only spreads the arrivals further.
            assert frames[-1][0] - frames[0][0] >= audio_s - 0.3, frames[-1][0] - frames[0][0]


@pytest.mark.needs("media")
async def test_speak_over_a_stream_completes_when_its_mark_is_acknowledged(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier, media=True) as s:
            # (answered: the greeting played and its mark came back)
            async with s.streamed_call("Hi.") as (call_id, _pid, caller):
                marks = len(caller.marks_received)
                caller.hold_marks = True  # the carrier has not played it yet
                text = "Please hold."
                async with trio.open_nursery() as nursery:
                    answer = s.cli_json_soon(nursery, "speak", "--call-id", call_id,
                                             "--message", text)
                    await s.until(lambda: len(caller.marks_received) > marks, "the mark")
                    await trio.sleep(0.5)
                    assert not answer  # waits for the carrier, not for the socket
                    await caller.release_marks()
                    with trio.fail_after(5):
                        await s.until(lambda: answer, "speak to return")
            assert answer == {"success": True}
            assert caller.marks_acknowledged[-1] == caller.marks_received[-1]
            assert said(await s.call(call_id))[-1] == ("bot", text)


@pytest.mark.needs("media")
async def test_caller_speech_barges_in_and_clears_playback(carrier) -> None:
    with trio.fail_after(40):
        async with open_session(carrier, media=True) as s:
            async with s.streamed_call("Hi.") as (call_id, _pid, caller):
                long_text = " ".join(["This is a long announcement."] * 6)  # about 12 s
                def heard_s() -> float:  # seconds of speech received
                    return sum(len(p) for _, p in caller.frames) / caller.frame_bytes * 0.020

                before = heard_s()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(s.cli, "speak", "--call-id", call_id,
                                       "--message", long_text)
                    await s.until(lambda: heard_s() > before + 0.5, "the daemon to talk")
                    await caller.talk(0.5)  # the caller talks over it
                    await s.until(lambda: caller.clears, "a clear")
                cleared_at = caller.clears[0]
                heard = await s.wait_call(call_id, lambda c: ("user", HEARD_OVER_STREAM[0])
                                          in said(c), "the caller's words")
                late = [at for at, _ in caller.frames if at > cleared_at + 0.2]
            assert late == []  # nothing more of that utterance after the clear
            assert heard_s() - before < 5  # far short of its 12 s
            assert heard["endedAt"] is None


def test_the_harness_agrees_with_what_the_provider_declares(carrier) -> None:
    """The suite runs the media tests exactly for providers that declare media streams, and
    every provider this build runs has a harness."""
    from tests.conformance.carriers import HARNESSES
    from voicecall_cli.core.config import IMPLEMENTED_PROVIDERS
    from voicecall_cli.providers import registry

    assert carrier.media == registry.load(carrier.name).capabilities.media
    assert sorted(h.name for h in HARNESSES) == sorted(IMPLEMENTED_PROVIDERS)
