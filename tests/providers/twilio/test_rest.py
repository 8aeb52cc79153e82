"""TwilioClient against the fake Twilio (a real loopback HTTP server) and a webhook receiver.

The receiver stands in for the daemon's webhook server: it checks signatures with the twilio
SDK and answers the notify TwiML stored in the shared state, else TwiML that keeps the call up.
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

from tests.simulator.webhook_receiver import EMPTY_TWIML, Received, run_webhook_receiver
from voicecall_cli.providers.base import CarrierError, PlaceCallRequest
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
    webhook_url: str
    received: list[Received] = field(default_factory=list)

    async def place(self, call_id: str = "call-1", *, mode: str = "conversation",
                    message: str | None = None) -> str:
        placed = await self.client.place_call(PlaceCallRequest(
            call_id=call_id, from_number="+15550002222", to_number="+15550001111",
            webhook_url=self.webhook_url, mode=mode, message=message))
        assert placed.status == "queued"
        return placed.provider_call_id


@asynccontextmanager
async def harness(*, stream_player: object | None = None) -> AsyncIterator[Harness]:
    state = TwilioState()

    def answer(received: Received) -> str:
        if received.is_status_callback:
            return EMPTY_TWIML
        stored = state.take_notify_twiml(received.query.get("callId", ""))
        return stored or twiml.idle(received.url, pause_s=30)

    async with (run_webhook_receiver(AUTH_TOKEN, answer) as receiver,
                run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as sim,
                open_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                   api_base_url=sim.base_url, state=state, voice=VOICE,
                                   stream_player=stream_player,  # type: ignore[arg-type]
                                   ring_timeout_s=25, request_timeout_s=2) as client):
        yield Harness(sim, client, state, receiver.url(), receiver.received)


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


async def test_play_says_then_returns_when_twilio_comes_back_from_the_say() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for(lambda: len(h.sim.calls[sid].twiml) == 1)  # idle TwiML runs
            played = trio.Event()

            async def play() -> None:
                await h.client.play("call-1", sid, "One moment please.")
                played.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(play)
                call = await h.sim.wait_for_status(sid, "in-progress")
                await h.sim.wait_for(lambda: any("sayDone=" in d.url for d in call.webhooks))
                assert not played.is_set()  # still speaking, as far as play knows
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


async def test_get_call_status_for_live_terminal_and_unknown_calls() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            live = await h.client.get_call_status(sid)
            h.sim.set_status(sid, "completed")
            ended = await h.client.get_call_status(sid)
            h.sim.set_status("CA" + "b" * 32, "busy")
            busy = await h.client.get_call_status("CA" + "b" * 32)
            missing = await h.client.get_call_status("CA" + "0" * 32)
            h.sim.fail_next_request(503, "try later")
            flaky = await h.client.get_call_status(sid)

    assert (live.status, live.is_terminal, live.is_unknown) == ("in-progress", False, False)
    assert (ended.status, ended.is_terminal) == ("completed", True)
    assert (busy.status, busy.is_terminal) == ("busy", True)
    assert (missing.status, missing.is_terminal) == ("not-found", True)
    assert (flaky.status, flaky.is_terminal, flaky.is_unknown) == ("error", False, True)


async def test_get_call_status_is_unknown_when_twilio_cannot_be_reached() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with trio.fail_after(5):
        async with open_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                      api_base_url=f"http://127.0.0.1:{port}",
                                      state=TwilioState(), voice=VOICE) as client:
            status = await client.get_call_status("CA" + "2" * 32)
            with pytest.raises(CarrierError) as failure:
                await client.hangup("c", "CA" + "2" * 32, "hangup-bot")

    assert (status.status, status.is_terminal, status.is_unknown) == ("error", False, True)
    assert AUTH_TOKEN not in str(failure.value)


async def test_a_wrong_auth_token_is_a_401_error_without_secrets() -> None:
    with trio.fail_after(5):
        async with (
            run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as sim,
            open_twilio_client(account_sid=ACCOUNT_SID, auth_token="not-the-token",
                               api_base_url=sim.base_url, state=TwilioState(),
                               voice=VOICE) as client,
        ):
            with pytest.raises(CarrierError) as failure:
                await client.place_call(PlaceCallRequest(
                    call_id="c", from_number="+1", to_number="+2",
                    webhook_url="http://127.0.0.1:9/hook", mode="notify", message="hi"))

    message = str(failure.value)
    assert message.startswith("Twilio API error: 401 ")
    assert "not-the-token" not in message
    assert sim.calls == {}


async def test_a_500_error_names_status_and_short_body_but_never_the_token() -> None:
    echoed = f"upstream broke; token={AUTH_TOKEN}; header=Basic {BASIC}; " + "x" * 500
    with trio.fail_after(5):
        async with harness() as h:
            h.sim.fail_next_request(500, echoed)
            with pytest.raises(CarrierError) as failure:
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
                                          state=TwilioState(), voice=VOICE,
                                          request_timeout_s=0.3) as client:
                with pytest.raises(CarrierError, match="timed out"):
                    await client.hangup("c", "CA" + "3" * 32, "hangup-bot")
            nursery.cancel_scope.cancel()


class RecordingPlayer:
    def __init__(self) -> None:
        self.played: list[tuple[str, str]] = []

    async def play_text(self, call_sid: str, text: str) -> None:
        self.played.append((call_sid, text))


async def test_with_a_media_stream_speech_goes_through_the_stream_player() -> None:
    player = RecordingPlayer()
    with trio.fail_after(5):
        async with harness(stream_player=player) as h:
            sid = await h.place()
            await h.sim.wait_for_status(sid, "in-progress")
            h.state.register_stream(sid, "MZ1", inbound=False)
            before = len(h.sim.requests)
            await h.client.play("call-1", sid, "Streamed hello.")
            await h.client.speak_and_listen("call-1", sid, "Streamed question?", "turn-9")
            await h.client.start_listening("call-1", sid, "turn-9")

    assert player.played == [(sid, "Streamed hello."), (sid, "Streamed question?")]
    assert len(h.sim.requests) == before  # no TwiML fallback


async def test_a_media_stream_without_a_player_refuses_the_twiml_fallback() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            sid = await h.place()
            h.state.register_stream(sid, "MZ1", inbound=False)
            with pytest.raises(CarrierError, match="refusing TwiML fallback"):
                await h.client.play("call-1", sid, "hello")


async def test_speech_for_a_call_without_a_known_url_fails_clearly() -> None:
    with trio.fail_after(5):
        async with harness() as h:
            with pytest.raises(CarrierError, match="Missing webhook URL"):
                await h.client.play("call-x", "CA" + "4" * 32, "hello")
            await h.client.resume("call-x", "CA" + "4" * 32, h.webhook_url)

    assert h.state.call_url("CA" + "4" * 32) == f"{h.webhook_url}?callId=call-x"
