"""The fake Twilio against a local webhook receiver that checks every signature with the SDK.

The test plays the daemon's part by hand: it places calls with plain httpx (Basic auth, form
bodies) and answers webhooks with TwiML built by the twilio SDK's ``VoiceResponse``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import trio
from twilio.twiml.voice_response import VoiceResponse

from tests.simulator.webhook_receiver import (
    EMPTY_TWIML,
    Received,
    WebhookReceiver,
    run_webhook_receiver,
)
from voicecall_cli.simulator.twilio.simulator import (
    CalleeScript,
    TwilioSimulator,
    run_twilio_simulator,
)

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "simulator-secret-token"
CALLEE_NUMBER = "+15550001111"
OUR_NUMBER = "+15550002222"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def notify_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text, voice="Polly.Joanna")
    response.hangup()
    return response.to_xml()


def hangup_twiml() -> str:
    response = VoiceResponse()
    response.hangup()
    return response.to_xml()


@asynccontextmanager
async def fake_twilio(answer: Callable[[Received], str], callee: CalleeScript | None = None,
                      ) -> AsyncIterator[tuple[TwilioSimulator, WebhookReceiver,
                                               httpx.AsyncClient]]:
    async with (run_webhook_receiver(AUTH_TOKEN, answer) as receiver,
                run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                     callee=callee) as sim,
                httpx.AsyncClient(base_url=f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}",
                                  auth=(ACCOUNT_SID, AUTH_TOKEN), trust_env=False) as api):
        yield sim, receiver, api


async def place(api: httpx.AsyncClient, receiver: WebhookReceiver, call_id: str = "c1") -> str:
    webhook = receiver.url()
    response = await api.post("/Calls.json", data={
        "To": CALLEE_NUMBER, "From": OUR_NUMBER, "Url": f"{webhook}?callId={call_id}",
        "StatusCallback": f"{webhook}?callId={call_id}&type=status",
        "StatusCallbackEvent": ALL_EVENTS, "Timeout": "30"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert body["sid"].startswith("CA") and len(body["sid"]) == 34
    return body["sid"]


async def test_notify_call_says_the_message_hangs_up_and_reports_completed() -> None:
    def answer(received: Received) -> str:
        return EMPTY_TWIML if received.is_status_callback else notify_twiml("Your table is ready.")

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, api):
            sid = await place(api, receiver)
            call = await sim.wait_ended(sid)

    assert call.status_history == ["queued", "ringing", "in-progress", "completed"]
    assert call.spoken == ["Your table is ready."]
    assert call.callback_statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert all(delivery.ok for delivery in call.callbacks)
    assert all(r.signature_valid for r in receiver.received)
    voice_request = next(r for r in receiver.received if not r.is_status_callback)
    assert voice_request.query == {"callId": "c1"}
    assert voice_request.params["CallSid"] == sid
    assert voice_request.params["AccountSid"] == ACCOUNT_SID
    assert voice_request.params["CallStatus"] == "in-progress"
    assert voice_request.params["Direction"] == "outbound-api"
    assert (voice_request.params["From"], voice_request.params["To"]) == (OUR_NUMBER,
                                                                          CALLEE_NUMBER)
    final = receiver.received[-1]
    assert final.is_status_callback and final.params["CallStatus"] == "completed"
    assert "CallDuration" in final.params


async def test_gather_posts_the_scripted_reply_to_the_action_with_its_turn_token() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        if "SpeechResult" in received.params:
            return hangup_twiml()
        response = VoiceResponse()
        gather = response.gather(input="speech", speech_timeout="auto", timeout=5,
                                 action=f"{received.url}&turnToken=turn-1", method="POST")
        gather.say("What time suits you?")
        response.redirect(received.url, method="POST")
        return response.to_xml()

    callee = CalleeScript(replies=["Seven o'clock, please."])
    with trio.fail_after(5):
        async with fake_twilio(answer, callee) as (sim, receiver, api):
            sid = await place(api, receiver)
            call = await sim.wait_ended(sid)

    action = next(r for r in receiver.received if "SpeechResult" in r.params)
    assert action.signature_valid
    assert action.query == {"callId": "c1", "turnToken": "turn-1"}
    assert action.params["SpeechResult"] == "Seven o'clock, please."
    assert float(action.params["Confidence"]) > 0.5
    assert call.spoken == ["What time suits you?"]
    assert call.gather_actions == [f"{receiver.url()}?callId=c1&turnToken=turn-1"]
    assert call.replies == ["Seven o'clock, please."]
    assert call.status == "completed"


async def test_a_silent_callee_lets_the_gather_time_out_and_fall_through() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        response = VoiceResponse()
        response.gather(input="speech", action=received.url, timeout=0.2)
        response.say("Nobody there.")
        return response.to_xml()  # then out of verbs: Twilio hangs up

    with trio.fail_after(5):
        async with fake_twilio(answer, CalleeScript(replies=[])) as (sim, receiver, api):
            sid = await place(api, receiver)
            call = await sim.wait_ended(sid)

    assert call.spoken == ["Nobody there."]
    assert not any("SpeechResult" in r.params for r in receiver.received)
    assert call.status == "completed"


async def test_a_rest_twiml_update_interrupts_a_pause() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        response = VoiceResponse()
        response.pause(length=30)
        response.redirect(received.url, method="POST")
        return response.to_xml()

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, api):
            sid = await place(api, receiver)
            await sim.wait_for(lambda: len(sim.calls[sid].twiml) == 1)
            updated = await api.post(f"/Calls/{sid}.json",
                                     data={"Twiml": notify_twiml("Change of plan.")})
            assert updated.status_code == 200
            call = await sim.wait_ended(sid)
            too_late = await api.post(f"/Calls/{sid}.json", data={"Twiml": hangup_twiml()})

    assert call.spoken == ["Change of plan."]
    assert call.twiml[-1] == notify_twiml("Change of plan.")
    assert call.callback_statuses[-1] == "completed"
    assert too_late.status_code == 400 and too_late.json()["code"] == 21220


async def test_rest_hangup_ends_the_call_once_and_counts_every_request() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        response = VoiceResponse()
        response.pause(length=30)
        return response.to_xml()

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, api):
            sid = await place(api, receiver)
            await sim.wait_for_status(sid, "in-progress")
            first = await api.post(f"/Calls/{sid}.json", data={"Status": "completed"})
            second = await api.post(f"/Calls/{sid}.json", data={"Status": "completed"})
            call = await sim.wait_ended(sid)
            fetched = (await api.get(f"/Calls/{sid}.json")).json()

    assert (first.status_code, second.status_code) == (200, 200)
    assert call.hangups == 2
    assert call.callback_statuses.count("completed") == 1
    assert fetched["status"] == "completed"


async def test_inbound_call_posts_ringing_and_runs_the_returned_twiml() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        return notify_twiml("Thanks for calling.")

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, _api):
            sid = await sim.place_inbound(
                from_=CALLEE_NUMBER, to=OUR_NUMBER, webhook_url=receiver.url(),
                status_callback_url=receiver.url() + "?type=status")
            call = await sim.wait_ended(sid)

    first = receiver.received[0]
    assert first.signature_valid
    assert first.params["Direction"] == "inbound"
    assert first.params["CallStatus"] == "ringing"
    assert (first.params["From"], first.params["To"]) == (CALLEE_NUMBER, OUR_NUMBER)
    assert call.status_history == ["ringing", "in-progress", "completed"]
    assert call.spoken == ["Thanks for calling."]
    assert call.callback_statuses == ["completed"]


async def test_inbound_reject_ends_the_call_busy_without_answering() -> None:
    def answer(received: Received) -> str:
        response = VoiceResponse()
        response.reject(reason="busy")
        return response.to_xml()

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, _api):
            sid = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                          webhook_url=receiver.url())
            call = await sim.wait_ended(sid)

    assert call.status_history == ["ringing", "busy"]
    assert not call.answered


async def test_a_busy_callee_never_reaches_the_voice_url() -> None:
    with trio.fail_after(5):
        async with fake_twilio(lambda _: EMPTY_TWIML, CalleeScript(answer="busy")) as (
                sim, receiver, api):
            sid = await place(api, receiver)
            call = await sim.wait_ended(sid)

    assert call.status_history == ["queued", "ringing", "busy"]
    assert call.callback_statuses == ["initiated", "ringing", "busy"]
    assert all(r.is_status_callback for r in receiver.received)


async def test_connect_stream_is_recorded_and_held_until_the_stream_ends() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        response = VoiceResponse()
        response.connect().stream(url="wss://voice.example.com/voice/stream").parameter(
            name="token", value="stream-token-1")
        response.say("Stream over.")
        response.hangup()
        return response.to_xml()

    with trio.fail_after(5):
        async with fake_twilio(answer) as (sim, receiver, api):
            sid = await place(api, receiver)
            stream = await sim.wait_for_stream(sid)
            await trio.sleep(0.05)
            assert not sim.calls[sid].ended  # the stream holds the call
            sim.end_stream(sid)
            call = await sim.wait_ended(sid)

    assert stream.url == "wss://voice.example.com/voice/stream"
    assert stream.token == "stream-token-1"
    assert call.spoken == ["Stream over."]


async def test_the_api_checks_credentials_and_answers_twilio_errors() -> None:
    with trio.fail_after(5):
        async with fake_twilio(lambda _: EMPTY_TWIML) as (sim, _receiver, api):
            unknown = await api.get("/Calls/CA" + "f" * 32 + ".json")
            async with httpx.AsyncClient(trust_env=False) as raw:
                wrong = await raw.post(f"{sim.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}"
                                       "/Calls.json", auth=(ACCOUNT_SID, "wrong"),
                                       data={"To": CALLEE_NUMBER})
            missing_to = await api.post("/Calls.json", data={"From": OUR_NUMBER,
                                                             "Url": "http://127.0.0.1/x"})

    assert unknown.status_code == 404 and unknown.json()["code"] == 20404
    assert wrong.status_code == 401 and wrong.json()["code"] == 20003
    assert missing_to.status_code == 400
    assert [r.authorized for r in sim.requests] == [True, False, True]
    assert sim.calls == {}


async def test_webhooks_to_other_hosts_are_refused_and_never_sent() -> None:
    with trio.fail_after(5):
        async with fake_twilio(lambda _: EMPTY_TWIML) as (sim, _receiver, api):
            response = await api.post("/Calls.json", data={
                "To": CALLEE_NUMBER, "From": OUR_NUMBER, "Url": "https://example.com/voice"})
            sid = response.json()["sid"]
            call = await sim.wait_ended(sid)

    assert call.webhooks[0].status_code is None
    assert "refused" in (call.webhooks[0].error or "")
    assert call.status == "completed"


async def test_forwarded_public_url_is_signed_as_public_and_delivered_locally() -> None:
    seen: list[Received] = []

    def answer(received: Received) -> str:
        seen.append(received)
        return hangup_twiml()

    with trio.fail_after(5):
        async with run_webhook_receiver(AUTH_TOKEN, answer) as receiver:
            forward = {"https://voice.example.com": receiver.base_url}
            async with run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                            forward=forward) as sim:
                sid = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                              webhook_url="https://voice.example.com/hook")
                await sim.wait_ended(sid)

    # The receiver rebuilds the URL from Host and X-Forwarded-Proto; the SDK check passes.
    assert seen[0].url == "https://voice.example.com/hook"
    assert seen[0].signature_valid
    assert sim.calls[sid].webhooks[0].ok


async def test_callee_hangs_up_after_its_last_reply() -> None:
    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        response = VoiceResponse()
        response.gather(input="speech", action=received.url, timeout=5)
        response.pause(length=30)
        response.redirect(received.url, method="POST")
        return response.to_xml()

    callee = CalleeScript(replies=["Bye now."], hangup_after_replies=1)
    with trio.fail_after(5):
        async with fake_twilio(answer, callee) as (sim, _receiver, api):
            sid = await place(api, _receiver)
            call = await sim.wait_ended(sid)

    assert call.replies == ["Bye now."]
    assert call.status == "completed"
    assert call.hangups == 0


def enqueue_twiml(action: str) -> str:
    response = VoiceResponse()
    response.enqueue("hold-queue", action=action, method="POST", wait_url="/voice/hold-music")
    return response.to_xml()


def hold_music_twiml() -> str:
    response = VoiceResponse()
    response.say("Please hold.", voice="alice")
    response.play("http://example.com/music.mp3", loop=0)
    return response.to_xml()


async def test_enqueue_plays_the_wait_url_and_reports_how_the_caller_left() -> None:
    def answer(received: Received) -> str:
        if received.path == "/voice/hold-music":
            return hold_music_twiml()
        if "QueueResult" in received.params or received.query.get("left"):
            return EMPTY_TWIML
        if received.query.get("callId"):  # redirected out of the queue: hang up
            return hangup_twiml()
        return enqueue_twiml(received.url.split("?")[0] + "?left=1")

    with trio.fail_after(10):
        async with fake_twilio(answer, CalleeScript(say_seconds_per_char=0)) as (
                sim, receiver, api):
            redirected = await sim.place_inbound(from_=CALLEE_NUMBER, to=OUR_NUMBER,
                                                 webhook_url=receiver.url())
            gives_up = await sim.place_inbound(from_="+15550003333", to=OUR_NUMBER,
                                               webhook_url=receiver.url())
            for sid in (redirected, gives_up):
                await sim.wait_for(lambda s=sid: sim.calls[s].played)
                assert sim.calls[sid].queue == "hold-queue"
                assert sim.calls[sid].spoken == ["Please hold."]
            response = await api.post(f"/Calls/{redirected}.json",
                                      data={"Url": receiver.url() + "?callId=c1"})
            assert response.status_code == 200
            sim.hang_up(gives_up)
            await sim.wait_ended(redirected)
            await sim.wait_ended(gives_up)
            await receiver.wait_for(lambda: sum("QueueResult" in r.params
                                                for r in receiver.received) == 2)

    assert sim.calls[redirected].queue_results == ["redirected"]
    assert sim.calls[gives_up].queue_results == ["hangup"]
    left = {r.params["CallSid"]: r for r in receiver.received if "QueueResult" in r.params}
    assert left[redirected].params["QueueResult"] == "redirected"
    assert left[gives_up].params["QueueResult"] == "hangup"
    assert all(r.signature_valid and r.query == {"left": "1"} for r in left.values())
    waits = [r for r in receiver.received if r.path == "/voice/hold-music"]
    assert len(waits) == 2 and all("QueueSid" in r.params for r in waits)
