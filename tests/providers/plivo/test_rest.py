"""PlivoClient against a fake Plivo API (``fake_plivo.py``, a real loopback HTTP server).

Where Plivo would call us back (the XML it fetches after a transfer, the Redirect after a
``<Speak>``, the GetInput action), the test plays the carrier: it signs each request with the
plivo SDK and hands it to the provider's own webhook codec, which shares the client's state as
in the daemon. Timers run on trio's MockClock (``autojump_clock``): a wait the client gives up
on passes in virtual time.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio

from tests.providers.plivo.fake_plivo import FakePlivo, Recorded, run_fake_plivo
from tests.providers.plivo.util import (
    AUTH_ID,
    AUTH_TOKEN,
    CALLEE,
    OUR_NUMBER,
    WEBHOOK,
    FakeEndpoints,
    call_form,
    call_url,
    deliver,
    document,
    make_codec,
    query_of,
    shape,
)
from voicecall_cli.core.config import parse_config_text
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.base import (
    PlaceCallRequest,
    ProviderCallStatus,
    ProviderClient,
    ProviderError,
    WebhookReply,
)
from voicecall_cli.providers.http import ApiError
from voicecall_cli.providers.plivo import PROVIDER
from voicecall_cli.providers.plivo.rest import (
    MISSING_WEBHOOK_URL,
    NOT_RINGING,
    SPEAK_BASE_WAIT_S,
    SPEAK_S_PER_CHAR,
    PlivoClient,
    open_plivo_client,
)
from voicecall_cli.providers.plivo.state import PlivoState
from voicecall_cli.providers.plivo.webhooks import PlivoWebhookCodec

BASIC = base64.b64encode(f"{AUTH_ID}:{AUTH_TOKEN}".encode()).decode()
CALL = "call-1"
CALL_UUID = "6a5f7c3e-0d1b-4e2a-9c8b-7f6e5d4c3b2a"
NOT_FOUND = {"api_id": "e7c3", "error": "not found"}


@dataclass
class Harness:
    fake: FakePlivo
    client: PlivoClient
    state: PlivoState
    endpoints: FakeEndpoints
    codec: PlivoWebhookCodec
    events: list[NormalizedEvent] = field(default_factory=list)
    nonces: Any = field(default_factory=lambda: (f"{n:020d}" for n in itertools.count(1)))

    async def place(self, call_id: str = CALL, *, mode: str = "conversation",
                    message: str | None = None, from_number: str = "+" + OUR_NUMBER,
                    to_number: str = "+" + CALLEE) -> str:
        placed = await self.client.place_call(PlaceCallRequest(
            call_id=call_id, from_number=from_number, to_number=to_number, mode=mode,
            message=message))
        return placed.provider_call_id

    def webhook(self, url: str, pairs: list[tuple[str, str]]) -> WebhookReply:
        """Plivo requests ``url`` (signed with the SDK); the codec verifies and answers."""
        reply, _ = deliver(self.codec, url, pairs, nonce=next(self.nonces))
        self.events += reply.events
        return reply

    def call_form(self, request_uuid: str, **kwargs: Any) -> list[tuple[str, str]]:
        return call_form(CALL_UUID, request_uuid=request_uuid, **kwargs)

    async def answered(self, call_id: str = CALL, *, message: str | None = None,
                       mode: str = "conversation") -> tuple[str, WebhookReply]:
        """A placed call that rang and was answered, its answer webhook delivered."""
        request_uuid = await self.place(call_id, mode=mode, message=message)
        self.fake.connect(request_uuid, CALL_UUID)
        reply = self.webhook(call_url({"callId": call_id, "flow": "answer"}),
                             self.call_form(request_uuid, event="StartApp"))
        assert self.state.call_uuid(request_uuid) == CALL_UUID
        return request_uuid, reply


@asynccontextmanager
async def harness(*, ring_timeout_s: int = 25) -> AsyncIterator[Harness]:
    state = PlivoState()
    endpoints = FakeEndpoints(webhook_url=WEBHOOK, signed_url=WEBHOOK)
    async with run_fake_plivo(AUTH_ID, AUTH_TOKEN) as fake, open_plivo_client(
            auth_id=AUTH_ID, auth_token=AUTH_TOKEN, api_base_url=fake.base_url, state=state,
            endpoints=endpoints, ring_timeout_s=ring_timeout_s, request_timeout_s=5) as client:
        yield Harness(fake, client, state, endpoints, make_codec(state, endpoints=endpoints))


def test_the_client_is_a_provider_client() -> None:
    assert issubclass(PlivoClient, ProviderClient)
    assert PlivoClient.name == "plivo"


# -- place_call -----------------------------------------------------------------------------------


async def test_place_call_sends_plivos_body_and_returns_the_request_uuid() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid = await h.place(from_number="+1 (415) 555-0100",
                                         to_number=" +1 415.555.0199 ")
            [made] = h.fake.requests
    assert (made.method, made.path, made.status) == ("POST", "/Call/", 201)
    assert made.headers["authorization"] == f"Basic {BASIC}"
    assert made.headers["content-type"] == "application/json"
    assert made.body == {
        "from": "+14155550100", "to": "+14155550199",
        "answer_url": f"{WEBHOOK}?callId={CALL}&flow=answer", "answer_method": "POST",
        "ring_url": f"{WEBHOOK}?callId={CALL}&flow=ring", "ring_method": "POST",
        "hangup_url": f"{WEBHOOK}?callId={CALL}&flow=hangup", "hangup_method": "POST",
        "ring_timeout": 25}
    for name in ("answer_url", "ring_url", "hangup_url"):
        assert query_of(made.body[name]) == {"callId": CALL, "flow": name[:-4]}
    assert request_uuid in h.fake.queued
    assert h.state.call_id(request_uuid) == CALL
    assert h.state.call_uuid(request_uuid) is None  # not rung yet


async def test_a_sip_uri_is_dialled_as_given() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            await h.place(to_number="sip:alice1234@phone.plivo.com")
    assert h.fake.requests[0].body["to"] == "sip:alice1234@phone.plivo.com"


async def test_a_request_uuid_given_as_a_list_is_its_first_element() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            given: list[str] = []

            def as_a_list(request_uuid: str):
                given.append(request_uuid)
                return 201, {"api_id": "a1", "message": "call fired",
                             "request_uuid": [request_uuid, "second"]}

            h.fake.create_answer = as_a_list
            request_uuid = await h.place()
    assert request_uuid == given[0]
    assert h.state.call_id(request_uuid) == CALL


@pytest.mark.parametrize("answer", [
    (201, {"api_id": "a1", "message": "call fired"}),
    (201, {"api_id": "a1", "message": "call fired", "request_uuid": []}),
    (201, {"api_id": "a1", "message": "call fired", "request_uuid": ""}),
    (201, ["not", "an", "object"]),
])
async def test_no_request_uuid_is_an_error_and_the_notify_xml_is_dropped(answer) -> None:
    with trio.fail_after(10):
        async with harness() as h:
            h.fake.create_answer = lambda r: answer
            with pytest.raises(ProviderError, match="Plivo call create returned no request_uuid"):
                await h.place(mode="notify", message="Your parcel arrives at noon.")
    assert not h.state.is_notify(CALL)
    assert h.state.take_notify_xml(CALL) is None


async def test_a_refused_create_drops_the_notify_xml() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            h.fake.fail_next(400, {"api_id": "a1", "error": "invalid to number"})
            with pytest.raises(ApiError) as info:
                await h.place(mode="notify", message="Hello.")
    assert info.value.status == 400 and "invalid to number" in str(info.value)
    assert not h.state.is_notify(CALL)
    assert h.state.take_notify_xml(CALL) is None


async def test_without_a_webhook_url_nothing_is_sent_and_nothing_kept() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            h.endpoints.webhook_url = None
            with pytest.raises(ProviderError, match=re.escape(MISSING_WEBHOOK_URL)):
                await h.place(mode="notify", message="Hello.")
            assert h.fake.requests == []
    assert not h.state.is_notify(CALL)
    assert h.state.take_notify_xml(CALL) is None


async def test_a_notify_call_is_answered_with_its_message_once() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, reply = await h.answered(mode="notify",
                                                   message="Your table is booked.")
            again = h.webhook(call_url({"callId": CALL, "flow": "answer"}),  # fetched again
                              h.call_form(request_uuid, event="StartApp"))
    assert shape(document(reply.body)) == ("Response", {}, None, [
        ("Speak", {"voice": "WOMAN", "language": "en-US"}, "Your table is booked.", []),
        ("Hangup", {}, None, [])])
    assert shape(document(again.body)) == ("Response", {}, None, [])
    assert [e.type for e in h.events] == [EventType.ANSWERED, EventType.ANSWERED]
    assert {e.dedupe_key for e in h.events} == {f"plivo:answered:{CALL_UUID}"}


async def test_callback_urls_follow_the_endpoints_at_each_use() -> None:
    moved = "https://moved.example.org/voice/webhook"
    with trio.fail_after(10):
        async with harness() as h:
            await h.place("call-a")
            h.endpoints.webhook_url = moved
            request_uuid = await h.place("call-b")
            h.fake.connect(request_uuid, CALL_UUID)
            h.state.bind(request_uuid, CALL_UUID)
            await h.client.start_listening("call-b", CALL_UUID, None)
    first, second, transfer = h.fake.requests
    assert first.body["answer_url"].startswith(WEBHOOK + "?")
    assert all(second.body[k].startswith(moved + "?") for k in ("answer_url", "ring_url",
                                                                "hangup_url"))
    assert transfer.body["aleg_url"].startswith(moved + "?")


# -- hangup -------------------------------------------------------------------------------------


async def test_hangup_of_an_answered_call_deletes_it_once() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            await h.client.hangup(CALL, CALL_UUID, "hangup-bot")
    assert [(r.method, r.path, r.status) for r in h.fake.requests[1:]] == [
        ("DELETE", f"/Call/{CALL_UUID}/", 204)]
    assert h.state.call_id(CALL_UUID) is None and h.state.call_id(request_uuid) is None


async def test_hangup_by_request_uuid_after_the_call_connected_deletes_the_call() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            await h.client.hangup(CALL, request_uuid, "hangup-bot")
    assert [(r.method, r.path) for r in h.fake.requests[1:]] == [
        ("DELETE", f"/Call/{CALL_UUID}/")]


async def test_hangup_before_the_call_rang_cancels_the_request() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid = await h.place()
            await h.client.hangup(CALL, request_uuid, "hangup-bot")
    assert [(r.method, r.path, r.status) for r in h.fake.requests[1:]] == [
        ("DELETE", f"/Call/{request_uuid}/", 404),
        ("DELETE", f"/Request/{request_uuid}/", 204)]
    assert request_uuid not in h.fake.queued
    assert h.state.call_id(request_uuid) is None


async def test_hangup_of_a_call_that_already_ended_is_no_error() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            await h.answered()
            h.fake.end(CALL_UUID, call_state="ANSWER")
            await h.client.hangup(CALL, CALL_UUID, "hangup-bot")
            await h.client.hangup("call-x", "0e0e0e0e-unknown", "hangup-bot")
    assert [r.status for r in h.fake.requests[1:]] == [404, 404]
    assert h.state.call_id(CALL_UUID) is None


async def test_a_refused_hangup_raises_and_keeps_the_call_for_a_retry() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            h.fake.fail_next(500, {"api_id": "a1", "error": "internal error"})
            with pytest.raises(ApiError) as info:
                await h.client.hangup(CALL, request_uuid, "hangup-bot")
            assert info.value.status == 500
            assert h.state.call_uuid(request_uuid) == CALL_UUID
            assert h.state.call_id(CALL_UUID) == CALL
            await h.client.hangup(CALL, request_uuid, "hangup-bot")  # the retry works
    assert [(r.path, r.status) for r in h.fake.requests[1:]] == [
        (f"/Call/{CALL_UUID}/", 500), (f"/Call/{CALL_UUID}/", 204)]
    assert h.state.call_id(CALL_UUID) is None


# -- speak ----------------------------------------------------------------------------------------


def transfer_of(r: Recorded, flow: str) -> None:
    assert (r.method, r.path, r.status) == ("POST", f"/Call/{CALL_UUID}/", 202)
    assert r.body == {"legs": "aleg", "aleg_url": f"{WEBHOOK}?callId={CALL}&flow={flow}",
                      "aleg_method": "POST"}


async def test_speak_transfers_and_returns_when_plivo_comes_back_after_the_speech(
        autojump_clock) -> None:
    served: list[Any] = []

    async def plivo_speaks(call_uuid: str, body: dict[str, Any]) -> None:
        reply = h.webhook(body["aleg_url"], h.call_form(request_uuid))
        speak, redirect = document(reply.body)
        served.append(shape(speak))
        await trio.sleep(2.0)  # saying it
        h.webhook(redirect.text, h.call_form(request_uuid))

    with trio.fail_after(60):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            h.fake.on_transfer = plivo_speaks
            started = trio.current_time()
            await h.client.speak(CALL, CALL_UUID, "Your order ships today & arrives Friday.")
            took = trio.current_time() - started
    [transfer] = h.fake.requests[1:]
    transfer_of(transfer, "xml-speak")
    assert served == [("Speak", {"voice": "WOMAN", "language": "en-US"},
                       "Your order ships today & arrives Friday.", [])]
    assert 2.0 <= took < SPEAK_BASE_WAIT_S
    assert h.events[1:] == []  # speaking is no call event


async def test_speak_gives_up_waiting_after_an_estimate_of_the_speech(autojump_clock) -> None:
    text = "x" * 50
    fetched: list[bytes] = []

    async def plivo_never_comes_back(call_uuid: str, body: dict[str, Any]) -> None:
        fetched.append(h.webhook(body["aleg_url"], h.call_form(request_uuid)).body)

    with trio.fail_after(60):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            h.fake.on_transfer = plivo_never_comes_back
            started = trio.current_time()
            await h.client.speak(CALL, CALL_UUID, text)
            took = trio.current_time() - started
            [speech] = fetched
            redirect = document(speech)[1].text
            late = h.webhook(redirect, h.call_form(request_uuid))  # a late Redirect: harmless
    bound = SPEAK_BASE_WAIT_S + SPEAK_S_PER_CHAR * len(text)
    assert bound <= took < bound + 1
    assert document(late.body)[0].tag == "Wait"


async def test_speech_plivo_never_fetched_is_not_said_late(autojump_clock) -> None:
    with trio.fail_after(60):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            await h.client.speak(CALL, CALL_UUID, "Hello.")  # nobody fetches: times out
            reply = h.webhook(call_url({"callId": CALL, "flow": "xml-speak"}),
                              h.call_form(request_uuid))
    assert document(reply.body)[0].tag == "Wait"  # the call idles; no stale <Speak>


async def test_speaking_to_a_call_that_has_not_rung_is_an_error() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid = await h.place()
            with pytest.raises(ProviderError, match=re.escape(NOT_RINGING)):
                await h.client.speak(CALL, request_uuid, "Hello.")
            with pytest.raises(ProviderError, match=re.escape(NOT_RINGING)):
                await h.client.start_listening(CALL, request_uuid, "turn-1")
    assert len(h.fake.requests) == 1


async def test_a_failed_transfer_raises_and_releases_the_speech(autojump_clock) -> None:
    with trio.fail_after(60):
        async with harness() as h:
            await h.answered()
            h.fake.end(CALL_UUID)  # hung up meanwhile: the transfer is a 404
            started = trio.current_time()
            with pytest.raises(ApiError) as info:
                await h.client.speak(CALL, CALL_UUID, "Hello.")
            assert trio.current_time() - started < 1  # no wait for a speech never sent
            assert info.value.status == 404
            assert h.state.take_speech(CALL_UUID) is None


# -- listening --------------------------------------------------------------------------------


async def test_speak_and_listen_serves_a_get_input_for_the_turn() -> None:
    documents: list[bytes] = []

    async def plivo_fetches(call_uuid: str, body: dict[str, Any]) -> None:
        documents.append(h.webhook(body["aleg_url"], h.call_form(request_uuid)).body)

    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            h.fake.on_transfer = plivo_fetches
            await h.client.speak_and_listen(CALL, CALL_UUID, "Does Tuesday work?", "turn-9")
            while not documents:  # Plivo fetches the XML right after it accepted the transfer
                await trio.sleep(0.01)
            root = document(documents[0])
            get_input, redirect = root
            # Silence: Plivo follows the Redirect and listens again, without the prompt.
            again = document(h.webhook(redirect.text, h.call_form(request_uuid)).body)
            # The caller answers.
            reply = h.webhook(get_input.get("action"), h.call_form(
                request_uuid, extra=[("InputType", "speech"), ("Speech", "Yes, it does."),
                                     ("SpeechConfidenceScore", "0.93")]))
    transfer_of(h.fake.requests[1], "xml-listen")
    assert get_input.tag == "GetInput"
    assert query_of(get_input.get("action")) == {"callId": CALL, "flow": "getinput",
                                                 "turnToken": "turn-9"}
    assert get_input.get("action").startswith(WEBHOOK + "?")
    assert [(c.tag, c.text) for c in get_input] == [("Speak", "Does Tuesday work?")]
    assert (again[0].tag, list(again[0])) == ("GetInput", [])
    assert again[0].get("action") == get_input.get("action")
    [speech] = reply.events
    assert (speech.type, speech.transcript, speech.turn_token, speech.call_id) == (
        EventType.SPEECH, "Yes, it does.", "turn-9", CALL)
    assert h.state.listen(CALL_UUID) is None  # the turn was answered


async def test_start_listening_serves_a_get_input_without_a_prompt() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            request_uuid, _ = await h.answered()
            await h.client.start_listening(CALL, CALL_UUID, None)
            reply = h.webhook(call_url({"callId": CALL, "flow": "xml-listen"}),
                              h.call_form(request_uuid))
            await h.client.stop_listening(CALL, CALL_UUID)
            after = h.webhook(call_url({"callId": CALL, "flow": "redirect"}),
                              h.call_form(request_uuid))
    transfer_of(h.fake.requests[1], "xml-listen")
    get_input = document(reply.body)[0]
    assert list(get_input) == []
    assert query_of(get_input.get("action")) == {"callId": CALL, "flow": "getinput"}
    assert len(h.fake.requests) == 2  # stopping is ours alone: no request
    assert document(after.body)[0].tag == "Wait"  # no new GetInput once the turn is over


async def test_a_failed_listen_transfer_leaves_no_turn_listening() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            await h.answered()
            h.fake.fail_next(500, {"api_id": "a1", "error": "internal error"})
            with pytest.raises(ApiError):
                await h.client.start_listening(CALL, CALL_UUID, "turn-1")
    assert h.state.listen(CALL_UUID) is None


# -- get_call_status ----------------------------------------------------------------------------


async def test_call_status() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            await h.answered()
            live = await h.client.get_call_status(CALL_UUID)
            h.fake.end(CALL_UUID, call_status="busy", call_state="BUSY")
            busy = await h.client.get_call_status(CALL_UUID)
            h.fake.end(CALL_UUID, call_state="NO_ANSWER")
            no_answer = await h.client.get_call_status(CALL_UUID)
            h.fake.end(CALL_UUID, call_state="ANSWER", hangup_cause_name="Normal Hangup")
            completed = await h.client.get_call_status(CALL_UUID)
            gone = await h.client.get_call_status("0e0e0e0e-never-existed")
            h.fake.fail_next(500, "oops")
            unknown_live = await h.client.get_call_status(CALL_UUID)
            h.fake.fail_next(404, NOT_FOUND)
            h.fake.fail_next(404, NOT_FOUND)
            h.fake.fail_next(500, "oops")
            unknown_record = await h.client.get_call_status(CALL_UUID)
            queued_uuid = await h.place()
            queued = await h.client.get_call_status(queued_uuid)
    assert live == ProviderCallStatus("live", raw="in-progress")
    assert queued == ProviderCallStatus("live", raw="queued")  # not rung yet: still ours
    assert (busy.state, busy.end_reason) == ("ended", "busy")
    assert (no_answer.state, no_answer.end_reason) == ("ended", "no-answer")
    assert (completed.state, completed.end_reason) == ("ended", "completed")
    assert (gone.state, gone.end_reason) == ("ended", "completed")
    assert unknown_live.state == unknown_record.state == "unknown"
    calls = [(r.method, r.path, r.query) for r in h.fake.requests[1:3]]
    assert calls == [("GET", f"/Call/{CALL_UUID}/", {"status": "live"}),
                     ("GET", f"/Call/{CALL_UUID}/", {"status": "live"})]
    assert [(r.path, r.query) for r in h.fake.requests[3:5]] == [
        (f"/Call/{CALL_UUID}/", {"status": "queued"}), (f"/Call/{CALL_UUID}/", {})]


# -- secrets ------------------------------------------------------------------------------------


def echo(r: Recorded) -> str:
    """A server that writes back what it was sent, credentials and all."""
    return f"rejected {r.headers.get('authorization')} token={AUTH_TOKEN}"


async def test_errors_never_show_the_auth_token() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            messages = []
            h.fake.fail_next(400, echo)
            with pytest.raises(ProviderError) as info:
                await h.place()
            messages.append(str(info.value))
            request_uuid, _ = await h.answered()
            h.fake.fail_next(500, echo)
            with pytest.raises(ProviderError) as info:
                await h.client.hangup(CALL, request_uuid, "hangup-bot")
            messages.append(str(info.value))
    for message in messages:
        assert message.startswith("Plivo API error: ")
        assert AUTH_TOKEN not in message and BASIC not in message
        assert "***" in message


async def test_no_part_of_the_auth_token_shows_where_an_error_body_is_cut() -> None:
    """Error bodies are shortened to 200 characters: a token echoed across the cut must not
    leave its first part behind."""
    with trio.fail_after(10):
        async with harness() as h:
            h.fake.fail_next(400, "x" * 170 + AUTH_TOKEN)
            with pytest.raises(ProviderError) as info:
                await h.place()
    message = str(info.value)
    assert not any(AUTH_TOKEN[:n] in message for n in range(8, len(AUTH_TOKEN) + 1)), message


# -- the provider spec --------------------------------------------------------------------------


CONFIG = f"""\
provider = "plivo"
fromNumber = "+{OUR_NUMBER}"
ringTimeoutMs = 45000
publicUrl = "{WEBHOOK}"
[plivo]
authId = "{AUTH_ID}"
authToken = "{AUTH_TOKEN}"
apiBaseUrl = "{{base}}"
"""


async def test_the_spec_opens_a_client_and_a_codec_that_share_the_calls() -> None:
    with trio.fail_after(10):
        async with run_fake_plivo(AUTH_ID, AUTH_TOKEN) as fake:
            config = parse_config_text(CONFIG.format(base=fake.base_url), ".toml", {})
            endpoints = DaemonEndpoints(public_url=WEBHOOK)
            async with PROVIDER.open(config, endpoints, StreamRegistry()) as provider:
                placed = await provider.client.place_call(PlaceCallRequest(
                    call_id=CALL, from_number="+" + OUR_NUMBER, to_number="+" + CALLEE,
                    mode="notify", message="Your parcel arrives at noon."))
                reply, _ = deliver(provider.webhooks, call_url({"callId": CALL,
                                                                "flow": "answer"}),
                                   call_form(CALL_UUID, request_uuid=placed.provider_call_id,
                                             event="StartApp"))
    [create] = fake.requests
    assert create.body["ring_timeout"] == 45
    assert create.body["answer_url"] == f"{WEBHOOK}?callId={CALL}&flow=answer"
    speak, hangup = document(reply.body)
    assert (speak.text, hangup.tag) == ("Your parcel arrives at noon.", "Hangup")
    assert provider.media is not None and provider.media.name == "plivo"
