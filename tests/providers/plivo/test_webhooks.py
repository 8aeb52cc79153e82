"""PlivoWebhookCodec: golden webhooks (``fixtures/*.json``, Plivo's form parameters) -> events
and the XML each one is answered with; then the decisions the fixtures do not reach.

Each fixture holds the query string of the URL Plivo was given, the form parameters as Plivo
sends them (numbers without ``+``), the state the call is in, and what must come out: the
events, the reply document (compared as a tree: attribute order is incidental) and what the
shared state remembers afterwards. Every delivery is signed with the plivo SDK and passes the
codec's own verification before it is parsed.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from tests.providers.plivo.util import (
    CALL_ID,
    CALL_UUID,
    CALLEE,
    FIXTURES,
    INBOUND_UUID,
    NONCE,
    NOW_MS,
    OUR_NUMBER,
    REQUEST_UUID,
    STREAM_URL,
    WEBHOOK,
    FakeEndpoints,
    PlivoStreams,
    call_form,
    call_url,
    deliver,
    document,
    fixture,
    make_codec,
    query_of,
    request,
    shape,
    signed_request,
    v2_headers,
    v3_headers,
)
from voicecall_cli.core.events import EventType
from voicecall_cli.providers.plivo import xml
from voicecall_cli.providers.plivo.state import PendingListen, PendingSpeech, PlivoState
from voicecall_cli.providers.plivo.webhooks import PlivoWebhookCodec

XML_HEADERS = {"content-type": "text/xml; charset=utf-8"}
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
# What the brief requires the fixtures to cover (a fixture may be added, never dropped).
REQUIRED = {
    "answer_outbound", "answer_inbound", "ring", "hangup_completed", "hangup_busy",
    "hangup_no_answer", "hangup_failed", "hangup_timeout", "hangup_cancel_outbound",
    "hangup_cancel_inbound", "getinput_speech", "getinput_transcription",
    "getinput_speech_result", "getinput_digits", "xml_speak", "xml_listen", "redirect",
    "redirect_say_done", "hold_waiting", "hold_admitted", "stream_status_start",
    "stream_status_stop", "stream_status_dropped", "unknown_flow", "no_call_uuid", "not_form"}


def hex_token(token: str) -> str:
    """The daemon's base64url stream token as the hex Plivo's extraHeaders may carry."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).hex()


class Scene:
    """A fixture's setup: the shared state, the daemon's views and the codec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        setup = spec.get("setup", {})
        self.state = PlivoState()
        self.streams = PlivoStreams(admitting=setup.get("admitting", True))
        self.codec = make_codec(self.state, streams=self.streams,
                                stream_url=STREAM_URL if setup.get("stream_url") else None)
        self.heard: list[str] = []
        form = dict(spec.get("form", []))
        self.call_uuid = form.get("CallUUID", "")
        if "placed" in setup:
            self.state.placed(*setup["placed"])
            if setup.get("notify"):
                self.state.store_notify_xml(setup["placed"][0], xml.notify("Hello."))
        if "remember" in setup:
            self.state.remember_call(*setup["remember"])
        if "speech" in setup:
            speech = setup["speech"]
            self.state.set_speech(self.call_uuid, PendingSpeech(speech["text"], speech["token"]),
                                  lambda: self.heard.append(speech["token"]))
            if speech.get("fetched"):
                assert self.state.take_speech(self.call_uuid) is not None
        if "listen" in setup:
            self.state.set_listen(self.call_uuid, PendingListen(**setup["listen"]))
        if setup.get("on_hold"):
            self.state.hold(self.call_uuid)


def test_the_fixtures_cover_every_kind_of_webhook() -> None:
    assert set(NAMES) >= REQUIRED, sorted(REQUIRED - set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_golden(name: str) -> None:
    spec = fixture(name)
    scene = Scene(spec)
    url = WEBHOOK + ("?" + spec["query"] if spec["query"] else "")
    if "form" in spec:
        pairs = [tuple(pair) for pair in spec["form"]]
        req = signed_request(url, pairs)
        verdict = scene.codec.verify(req, NOW_MS)
        assert verdict.ok, verdict.reason
        key = verdict.key
    else:  # not a form: whatever it is signed with, it cannot be what Plivo signed
        req = request(url, spec["body"].encode(),
                      {**v3_headers(url), "content-type": "application/json"})
        assert not scene.codec.verify(req, NOW_MS).ok
        key = "plivo:v3:" + "0" * 64

    if "error" in spec:
        with pytest.raises(ValueError, match=spec["error"]):
            scene.codec.parse(req, key, NOW_MS)
        return

    reply = scene.codec.parse(req, key, NOW_MS)
    assert (reply.status, reply.headers) == (200, XML_HEADERS)
    expected = spec["reply"].replace(
        "{token}", hex_token(scene.streams.registry.token(scene.call_uuid)))
    assert shape(document(reply.body)) == shape(document(expected)), reply.body.decode()

    assert len(reply.events) == len(spec["events"]), reply.events
    for event, want in zip(reply.events, spec["events"], strict=True):
        assert event.type == EventType(want["type"])
        assert event.timestamp == NOW_MS
        uuid.UUID(event.id)  # a fresh event id
        for field, value in want.items():
            if field == "type":
                continue
            if value == "{key}":
                value = key
            assert getattr(event, field) == value, field
    assert len({e.id for e in reply.events}) == len(reply.events)

    after = spec.get("after", {})
    for request_uuid, call_uuid in after.get("bound", {}).items():
        assert scene.state.call_uuid(request_uuid) == call_uuid
    for call_uuid, call_id in after.get("call_ids", {}).items():
        assert scene.state.call_id(call_uuid) == call_id
    for forgotten in after.get("forgotten", []):
        assert scene.state.call_id(forgotten) is None, forgotten
    if "notify_dropped" in after:
        assert not scene.state.is_notify(after["notify_dropped"])
        assert scene.state.take_notify_xml(after["notify_dropped"]) is None
    if "heard" in after:
        assert scene.heard == after["heard"]
    if "listening" in after:
        listening = after["listening"]
        assert scene.state.listen(scene.call_uuid) == (
            None if listening is None else PendingListen(**listening))
    if "ended_streams" in after:
        assert scene.streams.ended == [tuple(pair) for pair in after["ended_streams"]]
    if "tokens_asked" in after:
        assert scene.streams.tokens_asked == after["tokens_asked"]


# -- the codec's surface -----------------------------------------------------------------------


def test_codec_surface_and_the_pre_auth_header_gate() -> None:
    codec = make_codec()
    assert (codec.name, codec.static_pages) == ("plivo", ())
    v3, v2 = v3_headers(WEBHOOK), v2_headers(WEBHOOK)
    assert codec.has_auth_headers(v3)
    assert codec.has_auth_headers(v2)
    assert codec.has_auth_headers({**v3, **v2})
    assert not codec.has_auth_headers({})
    assert not codec.has_auth_headers({"x-plivo-signature-v3": v3["x-plivo-signature-v3"]})
    assert not codec.has_auth_headers({"x-plivo-signature-v3-nonce": NONCE})
    assert not codec.has_auth_headers({"x-plivo-signature-v2": v2["x-plivo-signature-v2"]})


# -- speech and digits ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["Speech", "Transcription", "TranscriptionText",
                                   "SpeechResult", "RecognizedSpeech", "Text"])
def test_each_transcript_field_is_understood(field: str) -> None:
    url = call_url({"callId": CALL_ID, "flow": "getinput"})
    reply, key = deliver(make_codec(), url, call_form(extra=[(field, "Ten works.")]))
    [event] = reply.events
    assert (event.type, event.transcript, event.is_final) == (EventType.SPEECH, "Ten works.",
                                                              True)
    assert event.dedupe_key == key


def test_the_first_field_that_is_not_blank_wins_and_speech_beats_digits() -> None:
    url = call_url({"callId": CALL_ID, "flow": "getinput"})
    form = call_form(extra=[("Speech", "Tuesday."), ("Transcription", "Thursday."),
                            ("Digits", "5")])
    [event] = deliver(make_codec(), url, form)[0].events
    assert (event.type, event.transcript) == (EventType.SPEECH, "Tuesday.")


@pytest.mark.parametrize(("fields", "confidence"), [
    ([("SpeechConfidenceScore", "0.42")], 0.42),
    ([("Confidence", "0.61")], 0.61),
    ([("SpeechConfidenceScore", "NaN")], 0.9),
    ([("SpeechConfidenceScore", "inf")], 0.9),
    ([("SpeechConfidenceScore", "high")], 0.9),
    ([], 0.9),
])
def test_confidence(fields: list[tuple[str, str]], confidence: float) -> None:
    url = call_url({"callId": CALL_ID, "flow": "getinput"})
    form = call_form(extra=[("Speech", "Yes."), *fields])
    [event] = deliver(make_codec(), url, form)[0].events
    assert event.confidence == pytest.approx(confidence)


def test_input_without_words_or_digits_yields_no_event_and_keeps_the_call_up() -> None:
    url = call_url({"callId": CALL_ID, "flow": "getinput"})
    reply, _ = deliver(make_codec(), url, call_form(extra=[("Speech", " "), ("Digits", "")]))
    assert reply.events == []
    [wait, redirect] = document(reply.body)
    assert (wait.tag, redirect.tag) == ("Wait", "Redirect")


def test_speech_of_a_stale_turn_keeps_the_newer_turn_listening() -> None:
    state = PlivoState()
    state.set_listen(CALL_UUID, PendingListen("turn-2"))
    url = call_url({"callId": CALL_ID, "flow": "getinput", "turnToken": "turn-1"})
    reply = deliver(make_codec(state), url, call_form(extra=[("Speech", "Late.")]))[0]
    [event] = reply.events
    assert event.turn_token == "turn-1"
    assert state.listen(CALL_UUID) == PendingListen("turn-2")
    # What Plivo runs from the reply is the newer turn's GetInput, at once.
    [get_input, _] = document(reply.body)
    assert get_input.tag == "GetInput"
    assert query_of(get_input.get("action"))["turnToken"] == "turn-2"
    # A late callback that carries no turn token is stale for a turn that has one.
    untokened = call_url({"callId": CALL_ID, "flow": "getinput"})
    deliver(make_codec(state), untokened, call_form(extra=[("Speech", "Late again.")]),
            nonce="22222222222222222222")
    assert state.listen(CALL_UUID) == PendingListen("turn-2")


# -- dedupe keys ---------------------------------------------------------------------------------


def test_a_status_callback_resent_with_a_new_nonce_keeps_its_dedupe_key() -> None:
    """Plivo re-sends a callback it got no answer for with a fresh nonce: the request key is
    new, the event must still count once."""
    codec = make_codec()
    url = call_url({"callId": CALL_ID, "flow": "ring"})
    form = call_form(status="ringing", event="Ring")
    first, key1 = deliver(codec, url, form, nonce="11111111111111111111")
    again, key2 = deliver(codec, url, form, nonce="22222222222222222222")
    assert key1 != key2
    assert first.events[0].dedupe_key == again.events[0].dedupe_key == f"plivo:ringing:{CALL_UUID}"
    assert first.events[0].id != again.events[0].id


def test_speech_is_keyed_by_the_verified_request_else_by_a_fallback_key() -> None:
    codec = make_codec()
    url = call_url({"callId": CALL_ID, "flow": "getinput"})
    form = call_form(extra=[("Speech", "Yes.")])
    _, key1 = deliver(codec, url, form, nonce="11111111111111111111")
    reply, key2 = deliver(codec, url, form, nonce="22222222222222222222")
    assert reply.events[0].dedupe_key == key2 != key1
    req = signed_request(url, form)
    first = codec.parse(req, "", NOW_MS).events[0].dedupe_key
    second = codec.parse(req, "", NOW_MS).events[0].dedupe_key
    assert first == second and first.startswith("plivo:fallback:")
    other = signed_request(url, call_form(extra=[("Speech", "No.")]))
    assert codec.parse(other, "", NOW_MS).events[0].dedupe_key != first


# -- numbers and direction --------------------------------------------------------------------


def test_numbers_become_e164_and_sip_uris_stay_as_they_are() -> None:
    url = call_url({"callId": CALL_ID, "flow": "answer"})
    form = [("From", "sip:alice@phone.plivo.com"), ("To", CALLEE), ("CallUUID", CALL_UUID),
            ("Event", "StartApp"), ("CallStatus", "in-progress")]
    [event] = deliver(make_codec(), url, form)[0].events
    assert (event.from_number, event.to_number) == ("sip:alice@phone.plivo.com", "+" + CALLEE)
    assert event.direction is None  # Plivo did not say


# -- the answer XML's decisions -----------------------------------------------------------------


def answer(codec: PlivoWebhookCodec, *, nonce: str = "11111111111111111111"):
    url = call_url({"callId": CALL_ID, "flow": "answer"})
    return deliver(codec, url, call_form(event="StartApp"), nonce=nonce)[0]


def test_a_notify_call_gets_its_stored_xml_once_and_an_empty_document_after() -> None:
    state = PlivoState()
    state.placed(CALL_ID, REQUEST_UUID)
    notify = xml.notify("Your parcel arrives at noon.")
    state.store_notify_xml(CALL_ID, notify)
    codec = make_codec(state)
    first = answer(codec)
    assert first.body.decode() == notify
    speak, hangup = document(first.body)
    assert (speak.tag, speak.text, hangup.tag) == ("Speak", "Your parcel arrives at noon.",
                                                   "Hangup")
    again = answer(codec, nonce="22222222222222222222")  # Plivo fetched the answer URL again
    assert shape(document(again.body)) == ("Response", {}, None, [])
    assert [e.dedupe_key for e in again.events] == [e.dedupe_key for e in first.events]


def stream_parts(body: bytes) -> tuple[dict[str, str], str, str]:
    stream, redirect = document(body)
    assert (stream.tag, redirect.tag, redirect.get("method")) == ("Stream", "Redirect", "POST")
    return dict(stream.attrib), stream.text or "", redirect.text or ""


def test_an_outbound_call_with_streams_on_is_connected_to_its_stream() -> None:
    streams = PlivoStreams()
    reply = answer(make_codec(streams=streams, stream_url=STREAM_URL))
    attrib, text, redirect = stream_parts(reply.body)
    token = hex_token(streams.registry.token(CALL_UUID))
    assert text == STREAM_URL
    assert attrib == {
        "bidirectional": "true", "audioTrack": "inbound",
        "contentType": "audio/x-mulaw;rate=8000", "keepCallAlive": "true",
        "extraHeaders": f"token={token}", "statusCallbackMethod": "POST",
        "statusCallbackUrl": call_url({"callId": CALL_ID, "flow": "stream-status"})}
    assert redirect == call_url({"callId": CALL_ID, "flow": "redirect"})
    assert streams.tokens_asked == [CALL_UUID]  # the token is the CallUUID's
    assert streams.reserved == []  # an outbound stream takes no inbound slot


def inbound_answer(codec: PlivoWebhookCodec, flow: str | None = None, *,
                   nonce: str = "11111111111111111111"):
    query = {"callId": INBOUND_UUID, "flow": flow} if flow else None
    form = call_form(INBOUND_UUID, direction="inbound", status="ringing")
    return deliver(codec, call_url(query), form, nonce=nonce)[0]


def test_an_inbound_caller_waits_on_hold_until_a_stream_slot_is_free() -> None:
    streams = PlivoStreams(admitting=False)
    codec = make_codec(streams=streams, stream_url=STREAM_URL)
    first = inbound_answer(codec)
    assert [e.type for e in first.events] == [EventType.INITIATED, EventType.ANSWERED]
    hold_url = call_url({"callId": INBOUND_UUID, "flow": "hold"})
    assert shape(document(first.body)) == ("Response", {}, None, [
        ("Speak", {"voice": "WOMAN", "language": "en-US"}, xml.HOLD_PROMPT, []),
        ("Wait", {"length": "5"}, None, []),
        ("Redirect", {"method": "POST"}, hold_url, [])])
    again = inbound_answer(codec, "hold", nonce="22222222222222222222")
    assert again.events == []
    assert shape(document(again.body)) == ("Response", {}, None, [
        ("Wait", {"length": "5"}, None, []), ("Redirect", {"method": "POST"}, hold_url, [])])
    assert streams.tokens_asked == []  # nobody on hold gets a stream token
    streams.admitting = True
    admitted = inbound_answer(codec, "hold", nonce="33333333333333333333")
    _, text, _ = stream_parts(admitted.body)
    assert (text, streams.tokens_asked) == (STREAM_URL, [INBOUND_UUID])
    assert streams.reserved == [INBOUND_UUID]  # the slot is taken now, not at the start
    # Held again later (the slot was taken meanwhile): told why once more.
    streams.admitting = False
    later = inbound_answer(codec, "hold", nonce="44444444444444444444")
    assert document(later.body)[0].tag == "Speak"


def held_caller(codec: PlivoWebhookCodec, call_uuid: str, flow: str | None, nonce: str):
    query = {"callId": call_uuid, "flow": flow} if flow else None
    form = call_form(call_uuid, direction="inbound", status="ringing")
    return deliver(codec, call_url(query), form, nonce=nonce)[0]


def test_held_callers_get_the_free_slot_in_the_order_they_came() -> None:
    second, third = "22222222-0000-4000-8000-000000000002", "33333333-0000-4000-8000-000000000003"
    state = PlivoState()
    streams = PlivoStreams(admitting=False)
    codec = make_codec(state, streams=streams, stream_url=STREAM_URL)
    held_caller(codec, second, None, "10000000000000000001")
    held_caller(codec, third, None, "10000000000000000002")
    assert state.held() == [second, third]
    streams.admitting = True  # the slot frees: the 3rd asks first, but the 2nd waited longer
    asks_first = held_caller(codec, third, "hold", "10000000000000000003")
    assert document(asks_first.body)[0].tag == "Wait" and streams.tokens_asked == []
    fourth = "44444444-0000-4000-8000-000000000004"  # a new caller queues behind them
    assert document(held_caller(codec, fourth, None, "10000000000000000004").body)[0].tag == (
        "Speak")
    admitted = held_caller(codec, second, "hold", "10000000000000000005")
    assert stream_parts(admitted.body)[1] == STREAM_URL and streams.tokens_asked == [second]
    assert state.held() == [third, fourth]
    # The daemon takes the 3rd off hold (a transfer to the hold flow): they stream, whatever
    # the slots say by then.
    state.start_connecting(third)
    streams.admitting = False
    moved = held_caller(codec, third, "hold", "10000000000000000006")
    assert stream_parts(moved.body)[1] == STREAM_URL
    assert state.held() == [fourth]


def test_an_inbound_call_idles_when_streams_are_off_whatever_the_slots() -> None:
    streams = PlivoStreams(admitting=False)
    reply = inbound_answer(make_codec(streams=streams))
    assert shape(document(reply.body)) == ("Response", {}, None, [
        ("Wait", {"length": "30"}, None, []),
        ("Redirect", {"method": "POST"},
         call_url({"callId": INBOUND_UUID, "flow": "redirect"}), [])])
    assert streams.admits_asked == 0


def test_an_answer_while_a_turn_listens_serves_the_get_input() -> None:
    state = PlivoState()
    state.set_listen(CALL_UUID, PendingListen("turn-3", "Hello, is this Sam?"))
    [get_input, redirect] = document(answer(make_codec(state)).body)
    assert get_input.tag == "GetInput"
    assert query_of(get_input.get("action")) == {"callId": CALL_ID, "flow": "getinput",
                                                 "turnToken": "turn-3"}
    assert [(c.tag, c.text) for c in get_input] == [("Speak", "Hello, is this Sam?")]
    assert redirect.text == call_url({"callId": CALL_ID, "flow": "redirect"})


def test_a_redirect_that_names_a_speech_twice_releases_its_waiter_once() -> None:
    state = PlivoState()
    heard: list[str] = []
    state.set_speech(CALL_UUID, PendingSpeech("Hi.", "say-1"), lambda: heard.append("say-1"))
    codec = make_codec(state)
    url = call_url({"callId": CALL_ID, "flow": "redirect", "sayDone": "say-1"})
    deliver(codec, url, call_form(), nonce="11111111111111111111")
    deliver(codec, url, call_form(), nonce="22222222222222222222")
    assert heard == ["say-1"]


# -- callback URLs ------------------------------------------------------------------------------


def urls_in(body: bytes) -> list[str]:
    found = []
    for element in document(body).iter():
        found += [v for k, v in element.attrib.items() if k.endswith(("action", "Url"))]
        if element.tag in ("Redirect", "Stream") and element.text:
            found.append(element.text)
    return found


def test_callback_urls_are_the_endpoints_webhook_url_never_the_requests_host() -> None:
    endpoints = FakeEndpoints(webhook_url=WEBHOOK, signed_url=WEBHOOK, stream_url=STREAM_URL)
    state = PlivoState()
    state.set_listen(CALL_UUID, PendingListen("turn-1"))
    codec = make_codec(state, endpoints=endpoints)
    form = call_form()
    bodies = []
    for flow, host in [("xml-listen", "attacker.example"), ("redirect", "127.0.0.1:3334"),
                       ("answer", "evil.example.net:8443")]:
        url = call_url({"callId": CALL_ID, "flow": flow})
        bodies.append(deliver(codec, url, form, host=host, nonce=flow.ljust(20, "0"))[0].body)
    found = [u for body in bodies for u in urls_in(body)]
    assert len(found) >= 5
    assert all(u.startswith((WEBHOOK + "?", STREAM_URL)) for u in found), found
    # A tunnel moves the public URL at run time: the next document follows it.
    endpoints.webhook_url = endpoints.signed_url = "https://moved.example.org/voice/webhook"
    moved = call_url({"callId": CALL_ID, "flow": "redirect"},
                     base="https://moved.example.org/voice/webhook")
    reply, _ = deliver(codec, moved, form, host="attacker.example")
    assert all(u.startswith("https://moved.example.org/voice/webhook?") for u in urls_in(
        reply.body))


# -- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b'{"CallUUID": "d2a4"}', b"CallUUID=d2a4&&Event=StartApp", b"CallUUID=%FF%FE",
    b"\xff\xfeCallUUID=x", b"CallUUID=&Event=StartApp", b"CallUUID=+++", b"",
])
def test_malformed_bodies_are_value_errors(body: bytes) -> None:
    url = call_url({"callId": CALL_ID, "flow": "answer"})
    with pytest.raises(ValueError):
        make_codec().parse(request(url, body), "plivo:v3:x", NOW_MS)


def test_a_field_repeated_with_different_values_is_refused() -> None:
    """V3 sorts a name's values, so the same signature covers either order: reading "the last
    one" would let a replay that swaps them mean another call."""
    url = call_url({"callId": CALL_ID, "flow": "answer"})
    form = [("CallUUID", "first-uuid"), ("From", OUR_NUMBER), ("CallUUID", CALL_UUID)]
    with pytest.raises(ValueError, match="repeated with different values"):
        deliver(make_codec(), url, form)


def test_a_field_repeated_with_the_same_value_is_that_value() -> None:
    url = call_url({"callId": CALL_ID, "flow": "answer"})
    form = [("CallUUID", CALL_UUID), ("From", OUR_NUMBER), ("CallUUID", CALL_UUID)]
    [event] = deliver(make_codec(), url, form)[0].events
    assert event.provider_call_id == CALL_UUID
