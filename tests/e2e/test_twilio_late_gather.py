"""A late Gather callback of an older turn must not disturb the turn that is listening now
(issue #14 item 14): a real daemon, the Twilio simulator for the call, and this test posting
the late callback and what Twilio does next, signed with the twilio SDK's RequestValidator."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import trio
from twilio.request_validator import RequestValidator

from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .test_twilio import AUTH_TOKEN, cli_json, twilio_daemon, wait_call


async def post_as_twilio(url: str, params: dict[str, str]) -> httpx.Response:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    async with httpx.AsyncClient() as http:
        return await http.post(url, data=params, headers={"x-twilio-signature": signature})


async def test_a_late_callback_of_turn_one_leaves_turn_two_listening() -> None:
    # The callee answers turn 1, then stays silent: turn 2's words come from this test.
    callee = CalleeScript(replies=["Ten works for me."], reply_delay_s=0.1)
    with trio.fail_after(90):
        async with twilio_daemon(callee) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", "Hi, the clinic."))["callId"]
            call = await wait_call(daemon, call_id, lambda c: c["answeredAt"], "the answer")
            sid = call["providerCallId"]
            first = await cli_json(daemon, "continue", "--call-id", call_id,
                                   "--message", "Does ten work?")
            assert first["transcript"] == "Ten works for me."
            turn_one = next(d for d in sim.calls[sid].webhooks if "SpeechResult" in d.params)

            second: dict = {}

            async def turn_two() -> None:
                second.update(await cli_json(daemon, "continue", "--call-id", call_id,
                                             "--message", "Anything else?"))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(turn_two)
                await sim.wait_for(lambda: len(sim.calls[sid].gather_actions) == 2)
                turn_two_action = sim.calls[sid].gather_actions[-1]
                assert turn_two_action != turn_one.url

                # Turn 1's callback arrives again, late (a new delivery, not a replay).
                late = await post_as_twilio(turn_one.url, {
                    **turn_one.params, "SpeechResult": "Ten works for me, I said.",
                    "Confidence": "0.8"})
                assert late.status_code == 200
                # What Twilio runs from that reply keeps turn 2 listening.
                assert _gather_action(late.text) == turn_two_action

                # The caller stays silent past the Gather: Twilio follows its Redirect back to
                # us, and turn 2 must still be listening there.
                back = await post_as_twilio(_redirect(late.text), {
                    k: v for k, v in turn_one.params.items()
                    if k not in ("SpeechResult", "Confidence")})
                assert back.status_code == 200
                action = _gather_action(back.text)
                assert action == turn_two_action, back.text

                said = await post_as_twilio(action, {
                    **turn_one.params, "SpeechResult": "Nothing else, thanks.",
                    "Confidence": "0.9"})
                assert said.status_code == 200
            assert second == {"success": True, "transcript": "Nothing else, thanks."}
            final = await cli_json(daemon, "status", "--call-id", call_id)
            users = [t["text"] for t in final["call"]["transcript"] if t["speaker"] == "user"]
            assert users == ["Ten works for me.", "Nothing else, thanks."]  # late words ignored


def _gather_action(document: str) -> str | None:
    gather = ET.fromstring(document.encode()).find("Gather")
    return None if gather is None else gather.get("action")


def _redirect(document: str) -> str:
    redirect = ET.fromstring(document.encode()).find("Redirect")
    assert redirect is not None and redirect.text, document
    return redirect.text
