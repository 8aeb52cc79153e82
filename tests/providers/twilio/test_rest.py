"""TwilioClient against the fake Twilio (a real loopback HTTP server) and a webhook receiver.

The receiver stands in for the daemon's webhook server: it checks signatures with the twilio
SDK and answers the notify TwiML stored in the shared state, else TwiML that keeps the call up.
The daemon's endpoints are a ``util.FakeEndpoints`` the test may change. Whether speech goes into
a media stream is the daemon's decision (its SpeechRouter), not this client's.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest
import trio

from tests.providers.twilio.util import FakeEndpoints
from tests.simulator.webhook_receiver import EMPTY_TWIML, Received, run_webhook_receiver
from voicecall_cli.providers.base import (
    PlaceCallRequest,
    ProviderCallStatus,
    ProviderClient,
    ProviderError,
)
from voicecall_cli.providers.twilio import twiml
from voicecall_cli.providers.twilio.rest import TwilioClient, open_twilio_client
from voicecall_cli.providers.twilio.state import TwilioState
from voicecall_cli.simulator.twilio.simulator import TwilioSimulator, run_twilio_simulator

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "rest-test-auth-token-9f8e7d"
BASIC = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
VOICE = "Polly.Joanna"


@dataclass
class Harness:
    sim: TwilioSimulator
    client: TwilioClient
    state: TwilioState
    endpoints: FakeEndpoints
    webhook_url: str
    received: list[Received] = field(default_factory=list)

    async def place(self, call_id: str = "call-1", *, mode: str = "conversation",
                    message: str | None = None) -> str:
        placed = await self.client.place_call(PlaceCallRequest(
            call_id=call_id, from_number="+15550002222", to_number="+15550001111",
            mode=mode, message=message))
        assert placed.status == "queued"
        return placed.provider_call_id


def nowhere() -> FakeEndpoints:
    """Endpoints for a client whose webhooks are never delivered."""
    return FakeEndpoints(webhook_url="http://127.0.0.1:9/hook")


@asynccontextmanager
async def harness() -> AsyncIterator[Harness]:
    state = TwilioState()
    endpoints = FakeEndpoints()

    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        stored = state.take_notify_twiml(received.query.get("callId", ""))
        return stored or twiml.idle(received.url, pause_s=30)

    async with (run_webhook_receiver(AUTH_TOKEN, answer) as receiver,
                run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as sim,
                open_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                   api_base_url=sim.base_url, state=state,
                                   endpoints=endpoints, voice=VOICE,
                                   ring_timeout_s=25, request_timeout_s=2) as client):
        # Set once the receiver listens, as the daemon sets its local URL: the client reads
        # the endpoints at each use, never when it is opened.
        endpoints.webhook_url = endpoints.signed_url = receiver.url()
        yield Harness(sim, client, state, endpoints, receiver.url(), receiver.received)


def test_the_client_is_a_provider_client() -> None:
    assert issubclass(TwilioClient, ProviderClient)
    assert TwilioClient.name == "twilio"


async def test_place_call_sends_twilios_form_and_the_notify_twiml_is_served_once() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place(mode="notify", message="Your parcel arrives at noon.")
            request = h.sim.requests[0]
            assert h.state.is_notify("call-1")
            call = await h.sim.wait_ended(sid)

    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
    assert request.get("To") == "+15550001111" and request.get("From") == "+15550002222"
    assert request.get("Url") == f"{h.webhook_url}?callId=call-1"
    assert request.get("StatusCallback") == f"{h.webhook_url}?callId=call-1&type=status"
    assert request.form["StatusCallbackEvent"] == ["initiated", "ringing", "answered",
                                                   "completed"]
    assert request.get("Timeout") == "25"
    assert h.state.call_url(sid) == f"{h.webhook_url}?callId=call-1"
    assert call.spoken == ["Your parcel arrives at noon."]
    assert call.twiml[0] == twiml.notify("Your parcel arrives at noon.", VOICE)
    assert call.callback_statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert all(r.signature_valid for r in h.received)


async def test_place_call_reads_the_webhook_url_from_the_endpoints_at_each_call() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            first = await h.place("call-1")
            # A tunnel now forwards to the same receiver under another name (loopback alias).
            moved = h.webhook_url.replace("127.0.0.1", "localhost")
            h.endpoints.webhook_url = h.endpoints.signed_url = moved
            second = await h.place("call-2")
            await h.sim.wait_for_status(second, "in-progress")

    assert h.sim.requests[0].get("Url") == f"{h.webhook_url}?callId=call-1"
    assert h.sim.requests[1].get("Url") == f"{moved}?callId=call-2"
    assert h.sim.requests[1].get("StatusCallback") == f"{moved}?callId=call-2&type=status"
    assert h.state.call_url(first) == f"{h.webhook_url}?callId=call-1"
    assert h.state.call_url(second) == f"{moved}?callId=call-2"
    assert any(r.url.startswith(f"{moved}?callId=call-2") for r in h.received)
    assert all(r.signature_valid for r in h.received)


async def test_place_call_without_a_webhook_url_fails_before_any_request() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            h.endpoints.webhook_url = None
            with pytest.raises(ProviderError, match="Webhook URL not configured"):
                await h.place(mode="notify", message="hello")

    assert h.sim.requests == []
    assert h.state.take_notify_twiml("call-1") is None


async def test_a_failed_notify_call_leaves_no_twiml_behind() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            h.sim.fail_next_request(500, "boom")
            with pytest.raises(ProviderError):
                await h.place(mode="notify", message="hello")

    assert h.state.take_notify_twiml("call-1") is None


async def test_speak_says_then_returns_when_twilio_comes_back_from_the_say() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for(lambda: len(h.sim.calls[sid].twiml) == 1)  # idle TwiML runs
            played = trio.Event()

            async def speak() -> None:
                await h.client.speak("call-1", sid, "One moment please.")
                played.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(speak)
                call = await h.sim.wait_for_status(sid, "in-progress")
                await h.sim.wait_for(lambda: any("sayDone=" in d.url for d in call.webhooks))
                assert not played.is_set()  # still speaking, as far as speak knows
                back = next(d.url for d in call.webhooks if "sayDone=" in d.url)
                token = parse_qs(urlsplit(back).query)["sayDone"][0]
                h.state.say_finished(token)  # what the codec does with that webhook
            assert played.is_set()
            assert "One moment please." in call.spoken
            update = next(r for r in reversed(h.sim.requests) if r.get("Twiml"))

    assert update.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"
    assert update.get("Twiml") == twiml.say(
        "One moment please.", VOICE, "en-US",
        redirect_url=f"{h.webhook_url}?callId=call-1&sayDone={token}")


async def test_speak_and_listen_sends_one_gather_with_the_turn_token() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            await h.client.speak_and_listen("call-1", sid, "Shall I book it?", "turn-7")
            assert h.state.pending_gather(sid) == (True, "turn-7")
            call = h.sim.calls[sid]
            await h.sim.wait_for(lambda: any("SpeechResult" in r.params for r in h.received))
            await h.client.stop_listening("call-1", sid)

    action = next(r for r in h.received if "SpeechResult" in r.params)
    assert action.query == {"callId": "call-1", "turnToken": "turn-7"}
    assert call.spoken[-1] == "Shall I book it?"
    assert h.state.pending_gather(sid) == (False, None)


async def test_start_listening_gathers_without_a_prompt() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            await h.client.start_listening("call-1", sid, "turn-8")
            document = h.sim.requests[-1].get("Twiml") or ""

    assert "<Gather" in document and "<Say" not in document
    assert "turnToken=turn-8" in document
    assert h.state.pending_gather(sid) == (True, "turn-8")


async def test_hangup_twice_ends_the_call_once_and_forgets_it() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            await h.client.hangup("call-1", sid, "hangup-bot")
            await h.client.hangup("call-1", sid, "hangup-bot")
            call = await h.sim.wait_ended(sid)

    assert call.hangups == 2
    assert call.callback_statuses.count("completed") == 1
    assert [r.get("Status") for r in h.sim.requests[1:]] == ["completed", "completed"]
    assert h.state.call_url(sid) is None


async def test_hangup_of_an_unknown_call_is_tolerated() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            await h.client.hangup("gone", "CA" + "e" * 32, "hangup-bot")

    assert h.sim.requests[0].status == 404


async def test_get_call_status_of_a_live_call() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            live = await h.client.get_call_status(sid)
            h.sim.set_status("CA" + "r" * 32, "ringing")
            ringing = await h.client.get_call_status("CA" + "r" * 32)
            h.sim.set_status("CA" + "q" * 32, "queued")
            queued = await h.client.get_call_status("CA" + "q" * 32)

    assert live == ProviderCallStatus("live", None, raw="in-progress")
    assert ringing == ProviderCallStatus("live", None, raw="ringing")
    assert queued == ProviderCallStatus("live", None, raw="queued")
    assert not (live.is_terminal or ringing.is_terminal or queued.is_terminal)
    assert [r.method for r in h.sim.requests[1:]] == ["GET", "GET", "GET"]
    assert h.sim.requests[1].path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"


@pytest.mark.parametrize(("status", "reason"), [
    ("completed", "completed"),
    ("busy", "busy"),
    ("no-answer", "no-answer"),
    ("failed", "failed"),
    ("canceled", "hangup-bot"),
])
async def test_get_call_status_of_an_ended_call_names_the_end_reason(status, reason) -> None:
    sid = "CA" + "b" * 32
    with trio.fail_after(5):
        async with harness() as h:
            h.sim.set_status(sid, status)
            ended = await h.client.get_call_status(sid)

    assert ended == ProviderCallStatus("ended", reason, raw=status)
    assert ended.is_terminal


async def test_get_call_status_of_a_placed_call_that_ended() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            h.sim.hang_up(sid)
            await h.sim.wait_ended(sid)
            ended = await h.client.get_call_status(sid)

    assert ended == ProviderCallStatus("ended", "completed", raw="completed")


async def test_get_call_status_normalises_twilios_word() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            h.sim.set_status("CA" + "c" * 32, " No-Answer ")
            shouted = await h.client.get_call_status("CA" + "c" * 32)
            h.sim.set_status("CA" + "d" * 32, "")
            blank = await h.client.get_call_status("CA" + "d" * 32)

    assert shouted == ProviderCallStatus("ended", "no-answer", raw="no-answer")
    # Reference 3.2: a blank status reads "unknown" and is not terminal.
    assert (blank.raw, blank.is_terminal) == ("unknown", False)


async def test_get_call_status_of_a_call_twilio_does_not_know_is_ended() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            missing = await h.client.get_call_status("CA" + "0" * 32)

    assert h.sim.requests[0].status == 404
    assert missing == ProviderCallStatus("ended", "completed", raw="not-found")
    assert missing.is_terminal


@pytest.mark.parametrize("code", [500, 503, 401, 429])
async def test_get_call_status_is_unknown_when_twilio_fails(code) -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            h.sim.fail_next_request(code, "try later")
            flaky = await h.client.get_call_status(sid)
            after = await h.client.get_call_status(sid)  # the next request is answered

    assert flaky == ProviderCallStatus("unknown", None, raw="error")
    assert not flaky.is_terminal
    assert after.state == "live"


async def test_get_call_status_is_unknown_when_twilio_cannot_be_reached() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with trio.fail_after(5):
        async with open_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                      api_base_url=f"http://127.0.0.1:{port}",
                                      state=TwilioState(), endpoints=nowhere(),
                                      voice=VOICE) as client:
            status = await client.get_call_status("CA" + "2" * 32)
            with pytest.raises(ProviderError) as failure:
                await client.hangup("c", "CA" + "2" * 32, "hangup-bot")

    assert status == ProviderCallStatus("unknown", None, raw="error")
    assert AUTH_TOKEN not in str(failure.value)


async def test_a_wrong_auth_token_is_a_401_error_without_secrets() -> None:
    with trio.fail_after(5):
        async with (
            run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as sim,
            open_twilio_client(account_sid=ACCOUNT_SID, auth_token="not-the-token",
                               api_base_url=sim.base_url, state=TwilioState(),
                               endpoints=nowhere(), voice=VOICE) as client,
        ):
            with pytest.raises(ProviderError) as failure:
                await client.place_call(PlaceCallRequest(
                    call_id="c", from_number="+1", to_number="+2", mode="notify",
                    message="hi"))

    message = str(failure.value)
    assert message.startswith("Twilio API error: 401 ")
    assert "not-the-token" not in message
    assert sim.calls == {}


async def test_a_500_error_names_status_and_short_body_but_never_the_token() -> None:
    echoed = f"upstream broke; token={AUTH_TOKEN}; header=Basic {BASIC}; " + "x" * 500
    with trio.fail_after(5):
        async with harness() as h:
            h.sim.fail_next_request(500, echoed)
            with pytest.raises(ProviderError) as failure:
                await h.place()

    message = str(failure.value)
    assert message.startswith("Twilio API error: 500 upstream broke")
    assert AUTH_TOKEN not in message and BASIC not in message
    assert len(message) < 260
    assert h.sim.calls == {}


async def test_every_request_is_bounded_by_the_timeout() -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()  # accept, read nothing, never answer

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(trio.serve_tcp, silent, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            async with open_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                          api_base_url=f"http://127.0.0.1:{port}",
                                          state=TwilioState(), endpoints=nowhere(),
                                          voice=VOICE, request_timeout_s=0.3) as client:
                with pytest.raises(ProviderError, match="timed out"):
                    await client.hangup("c", "CA" + "3" * 32, "hangup-bot")
            nursery.cancel_scope.cancel()


async def test_speech_for_a_call_without_a_known_url_fails_clearly() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            with pytest.raises(ProviderError, match="Missing webhook URL"):
                await h.client.speak("call-x", "CA" + "4" * 32, "hello")
            with pytest.raises(ProviderError, match="Missing webhook URL"):
                await h.client.speak_and_listen("call-x", "CA" + "4" * 32, "hello?", "t")
            with pytest.raises(ProviderError, match="Missing webhook URL"):
                await h.client.start_listening("call-x", "CA" + "4" * 32, "t")
            assert h.state.pending_gather("CA" + "4" * 32) == (False, None)
            await h.client.resume("call-x", "CA" + "4" * 32)

    assert h.sim.requests == []
    assert h.state.call_url("CA" + "4" * 32) == f"{h.webhook_url}?callId=call-x"


async def test_resume_reads_the_webhook_url_from_the_endpoints() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            h.endpoints.webhook_url = "https://new-tunnel.example.com/voice/webhook?x=1"
            await h.client.resume("call-r", "CA" + "5" * 32)
            h.endpoints.webhook_url = None
            with pytest.raises(ProviderError, match="Webhook URL not configured"):
                await h.client.resume("call-s", "CA" + "6" * 32)

    assert h.state.call_url("CA" + "5" * 32) == (
        "https://new-tunnel.example.com/voice/webhook?x=1&callId=call-r")
    assert h.state.call_url("CA" + "6" * 32) is None


async def test_a_resumed_call_is_spoken_to_through_its_remembered_url() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            h.state.forget(sid)  # what a daemon restart loses
            await h.client.resume("call-1", sid)
            await h.client.start_listening("call-1", sid, "turn-3")
            document = h.sim.requests[-1].get("Twiml") or ""

    assert f"{h.webhook_url}?callId=call-1&amp;turnToken=turn-3" in document
    assert h.state.pending_gather(sid) == (True, "turn-3")
