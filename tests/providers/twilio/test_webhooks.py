"""TwilioWebhookCodec: recorded-shape webhooks -> events, and the TwiML each one gets.

Bodies are fixtures in Twilio's form encoding; every signature comes from the twilio SDK.
The decision-table tests follow the rows of the codec's module docstring (the design note).
The daemon's views are fakes (``util.FakeEndpoints``, ``util.FakeStreams``): the stream
registry itself (tokens, limits) is tested with the daemon.
"""

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest

from tests.providers.twilio.util import (
    AUTH_TOKEN,
    CALL_ID,
    CALL_URL,
    CALLEE,
    INBOUND_SID,
    OUR_NUMBER,
    OUTBOUND_SID,
    PUBLIC,
    STREAM_URL,
    FakeEndpoints,
    FakeStreams,
    form,
    golden,
    request,
    sign,
)
from voicecall_cli.core.events import EventType
from voicecall_cli.providers.base import StaticPage
from voicecall_cli.providers.signatures import WebhookSecurity
from voicecall_cli.providers.twilio import TwilioState, TwilioWebhookCodec, twiml

NOW = 1_715_702_531_000
KEY = "twilio:req:0123abcd"
WEBHOOK = f"{PUBLIC}/voice/webhook"
STATUS_QUERY = {"callId": CALL_ID, "type": "status"}


def make_codec(state: TwilioState | None = None, *, endpoints: FakeEndpoints | None = None,
               streams: FakeStreams | None = None, stream_url: str | None = None,
               language: str = "en-US") -> TwilioWebhookCodec:
    """A codec whose endpoints sign ``WEBHOOK`` (``stream_url`` set: streaming is on) and whose
    stream registry admits inbound streams, unless the test passes its own views."""
    if endpoints is None:
        endpoints = FakeEndpoints(webhook_url=WEBHOOK, signed_url=WEBHOOK, stream_url=stream_url)
    return TwilioWebhookCodec(AUTH_TOKEN, state if state is not None else TwilioState(),
                              endpoints=endpoints,
                              streams=streams if streams is not None else FakeStreams(),
                              security=WebhookSecurity(), ngrok_loopback_bypass=False,
                              voice="Polly.Joanna", language=language)


def deliver(codec: TwilioWebhookCodec, body: str | bytes, query: dict[str, str] | None = None,
            *, key: str = KEY, url: str = WEBHOOK):
    """POST fixture ``body`` (a name or raw bytes) to ``url?query``, signed as Twilio does."""
    raw = form(body) if isinstance(body, str) else body
    full_url = url + ("?" + urlencode(query) if query else "")
    req = request(full_url, raw, signature=sign(full_url, raw))
    return codec.parse(req, key, NOW)


def remembered_state() -> TwilioState:
    state = TwilioState()
    state.remember_call(CALL_ID, OUTBOUND_SID, CALL_URL)
    return state


# -- codec surface -----------------------------------------------------------------------------


def test_auth_header_gate_and_verification():
    codec = make_codec()
    assert codec.name == "twilio"
    assert codec.has_auth_headers({"x-twilio-signature": "abc="})
    assert not codec.has_auth_headers({})
    url = WEBHOOK + "?" + urlencode(STATUS_QUERY)
    body = form("status_ringing")
    good = codec.verify(request(url, body, signature=sign(url, body)), NOW)
    assert good.ok and good.key.startswith("twilio:req:")
    bad = codec.verify(request(url, body, signature=sign(url, body, "wrong")), NOW)
    assert not bad.ok and bad.key is None
    assert bad.reason == f"Invalid signature for URL: {url}"


def test_the_signed_url_is_read_from_the_endpoints_at_each_verification():
    # A tunnel comes up after the codec was made: Twilio signs the tunnel's URL while our
    # server sees the loopback Host header.
    endpoints = FakeEndpoints(webhook_url="http://127.0.0.1:8080/voice/webhook")
    codec = make_codec(endpoints=endpoints)
    tunnel = "https://abc123.ngrok.app/voice/webhook?" + urlencode(STATUS_QUERY)
    body = form("status_ringing")
    delivered = request("http://127.0.0.1:8080/voice/webhook?" + urlencode(STATUS_QUERY), body,
                        signature=sign(tunnel, body))
    before = codec.verify(delivered, NOW)
    assert not before.ok
    assert before.reason == ("Invalid signature for URL: https://127.0.0.1/voice/webhook?"
                             + urlencode(STATUS_QUERY))
    endpoints.signed_url = endpoints.webhook_url = "https://abc123.ngrok.app/voice/webhook"
    after = codec.verify(delivered, NOW)
    assert after.ok and after.key.startswith("twilio:req:")


def test_the_hold_music_page_is_a_static_page_the_queue_waits_on():
    codec = make_codec()
    [page] = codec.static_pages
    assert page == StaticPage("/voice/hold-music", "text/xml", golden("hold_music").encode())
    say, play = list(ET.fromstring(page.body))
    assert (say.tag, say.text) == ("Say", "All agents are currently busy. Please hold.")
    assert (play.tag, play.get("loop")) == ("Play", "0")
    assert play.text == twiml.HOLD_MUSIC_URL
    # The queue TwiML an inbound caller gets waits on exactly this page.
    enqueue = ET.fromstring(golden("queue").encode()).find("Enqueue")
    assert enqueue.get("waitUrl") == page.path


# -- parsing recorded webhooks -----------------------------------------------------------------


def test_outbound_answer_webhook():
    reply = deliver(make_codec(remembered_state()), "outbound_answer", {"callId": CALL_ID})
    [event] = reply.events
    assert event.type is EventType.ANSWERED
    assert (event.call_id, event.provider_call_id, event.direction) == (
        CALL_ID, OUTBOUND_SID, "outbound")
    assert (event.from_number, event.to_number) == (OUR_NUMBER, CALLEE)
    assert (event.timestamp, event.dedupe_key, event.turn_token) == (NOW, KEY, None)
    assert reply.status == 200
    assert reply.headers == {"content-type": "application/xml"}
    assert reply.body.decode() == golden("idle")


@pytest.mark.parametrize(("fixture", "event_type", "reason"), [
    ("status_initiated", EventType.INITIATED, None),
    ("status_ringing", EventType.RINGING, None),
    ("status_in_progress", EventType.ANSWERED, None),
    ("status_completed", EventType.ENDED, "completed"),
    ("status_busy", EventType.ENDED, "busy"),
    ("status_no_answer", EventType.ENDED, "no-answer"),
    ("status_failed", EventType.ENDED, "failed"),
    ("status_canceled", EventType.ENDED, "hangup-bot"),
])
def test_status_callbacks(fixture, event_type, reason):
    reply = deliver(make_codec(), fixture, STATUS_QUERY)
    [event] = reply.events
    assert event.type is event_type
    if reason is not None:
        assert event.reason == reason
    assert (event.call_id, event.provider_call_id, event.dedupe_key) == (
        CALL_ID, OUTBOUND_SID, KEY)
    assert reply.body.decode() == golden("empty")
    assert reply.headers == {"content-type": "application/xml"}


def test_queued_and_unknown_statuses_yield_no_event():
    for status in (b"queued", b"Something-New"):
        body = form("status_initiated").replace(b"CallStatus=initiated", b"CallStatus=" + status)
        reply = deliver(make_codec(), body, STATUS_QUERY)
        assert reply.events == []
        assert reply.body.decode() == golden("empty")


def test_call_status_is_normalised():
    body = form("status_ringing").replace(b"CallStatus=ringing", b"CallStatus=+RINGING+")
    [event] = deliver(make_codec(), body, STATUS_QUERY).events
    assert event.type is EventType.RINGING


def test_gather_speech_result_with_confidence_and_turn_token():
    query = {"callId": CALL_ID, "turnToken": "turn-7"}
    [event] = deliver(make_codec(remembered_state()), "gather_speech", query).events
    assert event.type is EventType.SPEECH
    assert event.transcript == "Yes, Tuesday at 3 works for me."
    assert event.is_final is True
    assert event.confidence == pytest.approx(0.9165021)
    assert event.turn_token == "turn-7"
    assert (event.call_id, event.provider_call_id) == (CALL_ID, OUTBOUND_SID)


def test_gather_speech_result_without_confidence_defaults_to_0_9():
    [event] = deliver(make_codec(remembered_state()), "gather_speech_no_confidence",
                      {"callId": CALL_ID}).events
    assert event.transcript == "Can you call back later?"
    assert event.confidence == 0.9
    assert event.turn_token is None


def test_unreadable_confidence_defaults_to_0_9():
    body = form("gather_speech").replace(b"Confidence=0.9165021", b"Confidence=NaN")
    [event] = deliver(make_codec(remembered_state()), body, {"callId": CALL_ID}).events
    assert event.confidence == 0.9


def test_dtmf_digits_are_answered_like_a_redirect_back():
    reply = deliver(make_codec(remembered_state()), "gather_digits", {"callId": CALL_ID})
    [event] = reply.events
    assert event.type is EventType.DTMF
    assert event.digits == "1234"
    assert reply.body.decode() == golden("idle")


def test_inbound_call_is_initiated_then_answered_under_its_call_sid():
    reply = deliver(make_codec(), "inbound_call")
    initiated, answered = reply.events
    assert (initiated.type, answered.type) == (EventType.INITIATED, EventType.ANSWERED)
    for event in (initiated, answered):
        assert (event.call_id, event.provider_call_id, event.direction) == (
            INBOUND_SID, INBOUND_SID, "inbound")
        assert (event.from_number, event.to_number) == (CALLEE, OUR_NUMBER)
    assert (initiated.dedupe_key, answered.dedupe_key) == (f"{KEY}:0", f"{KEY}:1")
    assert initiated.id != answered.id


# -- the TwiML decision table ------------------------------------------------------------------


def test_row_gather_action_stops_the_listening_turn_and_idles():
    state = remembered_state()
    state.set_pending_gather(OUTBOUND_SID, "turn-7")
    reply = deliver(make_codec(state), "gather_speech", {"callId": CALL_ID, "turnToken": "turn-7"})
    assert [e.type for e in reply.events] == [EventType.SPEECH]
    assert state.pending_gather(OUTBOUND_SID) == (False, None)
    assert reply.body.decode() == golden("idle")


def test_row_a_late_gather_action_of_an_older_turn_keeps_the_newer_turn_listening():
    state = remembered_state()
    state.set_pending_gather(OUTBOUND_SID, "turn-8")
    codec = make_codec(state)
    late = deliver(codec, "gather_speech", {"callId": CALL_ID, "turnToken": "turn-7"})
    assert [(e.type, e.turn_token) for e in late.events] == [(EventType.SPEECH, "turn-7")]
    assert state.pending_gather(OUTBOUND_SID) == (True, "turn-8")
    turn_8 = twiml.with_turn_token(CALL_URL, "turn-8")
    assert late.body.decode() == twiml.gather(turn_8, prompt=None, voice="Polly.Joanna",
                                              redirect_url=turn_8)
    untokened = deliver(codec, "gather_speech", {"callId": CALL_ID}, key=KEY + "b")
    assert untokened.events and state.pending_gather(OUTBOUND_SID) == (True, "turn-8")
    own = deliver(codec, "gather_speech", {"callId": CALL_ID, "turnToken": "turn-8"},
                  key=KEY + "c")
    assert own.body.decode() == golden("idle")
    assert state.pending_gather(OUTBOUND_SID) == (False, None)


def test_row_redirect_back_while_listening_gathers_again_with_the_token():
    state = remembered_state()
    state.set_pending_gather(OUTBOUND_SID, "turn-7")
    reply = deliver(make_codec(state), "outbound_answer", {"callId": CALL_ID})
    turn_7 = twiml.with_turn_token(CALL_URL, "turn-7")
    # the Redirect comes back to the turn's own URL: a redirect to the bare call URL would
    # carry the same signed form as the answer and be answered as its replay
    assert reply.body.decode() == twiml.gather(turn_7, prompt=None, voice="Polly.Joanna",
                                               redirect_url=turn_7)
    assert state.pending_gather(OUTBOUND_SID) == (True, "turn-7")  # still listening


def test_row_redirect_back_while_listening_without_a_token_uses_the_call_url():
    state = remembered_state()
    state.set_pending_gather(OUTBOUND_SID, None)
    body = deliver(make_codec(state, language="en-GB"), "outbound_answer",
                   {"callId": CALL_ID}).body.decode()
    assert body == twiml.gather(CALL_URL, prompt=None, voice="Polly.Joanna", language="en-GB",
                                redirect_url=CALL_URL)


def test_row_stored_notify_twiml_is_served_once_then_empty():
    state = remembered_state()
    notify = twiml.notify("Your package arrives today.", "Polly.Joanna")
    state.store_notify_twiml(CALL_ID, notify)
    codec = make_codec(state, stream_url=STREAM_URL)
    assert deliver(codec, "outbound_answer", {"callId": CALL_ID}).body.decode() == notify
    again = deliver(codec, "outbound_answer", {"callId": CALL_ID}, key=KEY + "x")
    assert again.body.decode() == golden("empty")  # a notify call never streams


def test_row_redirect_back_streams_when_streaming_is_on():
    streams = FakeStreams()
    codec = make_codec(remembered_state(), streams=streams, stream_url=STREAM_URL)
    body = deliver(codec, "outbound_answer", {"callId": CALL_ID}).body.decode()
    # Exactly the registry's token for this CallSid (not our call id).
    assert body == twiml.stream(STREAM_URL, f"token-for-{OUTBOUND_SID}")
    assert streams.tokens_asked == [OUTBOUND_SID]


def test_row_outbound_calls_stream_whatever_the_inbound_rule_says():
    streams = FakeStreams(admitting=False)
    codec = make_codec(remembered_state(), streams=streams, stream_url=STREAM_URL)
    body = deliver(codec, "outbound_answer", {"callId": CALL_ID}).body.decode()
    assert body == twiml.stream(STREAM_URL, f"token-for-{OUTBOUND_SID}")
    other = deliver(make_codec(streams=streams, stream_url=STREAM_URL), "outbound_answer",
                    key=KEY + "other").body.decode()  # bare webhook, no callId
    assert other == twiml.stream(STREAM_URL, f"token-for-{OUTBOUND_SID}")
    assert streams.admits_asked == 0
    assert streams.reserved == []  # an outbound stream takes no inbound slot


def test_row_streaming_follows_the_endpoints_at_each_webhook():
    endpoints = FakeEndpoints(webhook_url=WEBHOOK, signed_url=WEBHOOK)
    codec = make_codec(remembered_state(), endpoints=endpoints)
    assert deliver(codec, "outbound_answer", {"callId": CALL_ID}).body.decode() == golden("idle")
    endpoints.stream_url = STREAM_URL  # e.g. the public URL became known
    again = deliver(codec, "outbound_answer", {"callId": CALL_ID}, key=KEY + "x")
    assert again.body.decode() == twiml.stream(STREAM_URL, f"token-for-{OUTBOUND_SID}")


def test_row_redirect_back_idles_when_streaming_is_off():
    reply = deliver(make_codec(remembered_state()), "outbound_answer", {"callId": CALL_ID})
    assert reply.body.decode() == golden("idle")


def test_row_call_url_with_a_terminal_status_gets_empty_twiml():
    body = form("outbound_answer").replace(b"CallStatus=in-progress", b"CallStatus=completed")
    reply = deliver(make_codec(remembered_state(), stream_url=STREAM_URL), body,
                    {"callId": CALL_ID})
    assert reply.body.decode() == golden("empty")


def test_row_inbound_streams_when_the_registry_admits_it():
    state = TwilioState()
    streams = FakeStreams(admitting=True)
    reply = deliver(make_codec(state, streams=streams, stream_url=STREAM_URL), "inbound_call")
    assert reply.body.decode() == twiml.stream(STREAM_URL, f"token-for-{INBOUND_SID}")
    assert streams.tokens_asked == [INBOUND_SID]
    assert streams.reserved == [INBOUND_SID]  # the slot is taken now, not at the stream's start
    assert streams.admits_asked == 1
    assert state.call_url(INBOUND_SID) == f"{WEBHOOK}?callId={INBOUND_SID}"


def test_row_inbound_is_queued_when_the_registry_admits_no_more_inbound_streams():
    state = TwilioState()
    streams = FakeStreams(admitting=False)
    reply = deliver(make_codec(state, streams=streams, stream_url=STREAM_URL), "inbound_call")
    call_url = f"{WEBHOOK}?callId={INBOUND_SID}"
    assert reply.body.decode() == twiml.queue(action_url=call_url)
    [say, enqueue] = ET.fromstring(reply.body)
    assert (say.text, enqueue.text) == ("Please hold while we connect you.", "hold-queue")
    assert enqueue.attrib == {"action": call_url, "method": "POST",
                              "waitUrl": "/voice/hold-music"}
    assert [e.type for e in reply.events] == [EventType.INITIATED, EventType.ANSWERED]
    assert streams.tokens_asked == []  # a queued caller gets no stream token
    assert state.held() == [INBOUND_SID]
    # Still remembered, so the REST client can update the call once it leaves the queue.
    assert state.call_url(INBOUND_SID) == call_url


def inbound_from(call_sid: str) -> bytes:
    return form("inbound_call").replace(INBOUND_SID.encode(), call_sid.encode())


SECOND_SID = "CA" + "2" * 32
THIRD_SID = "CA" + "3" * 32


def test_row_new_inbound_callers_queue_behind_those_already_waiting_in_order():
    state = TwilioState()
    streams = FakeStreams(admitting=False)
    codec = make_codec(state, streams=streams, stream_url=STREAM_URL)
    deliver(codec, inbound_from(SECOND_SID))
    streams.admitting = True  # a slot frees, but someone is waiting for it
    third = deliver(codec, inbound_from(THIRD_SID), key=KEY + "3").body.decode()
    assert "<Enqueue" in third and streams.tokens_asked == []
    assert state.held() == [SECOND_SID, THIRD_SID]
    # The first in line is taken off hold: until their stream is up the slot stays theirs.
    state.start_connecting(SECOND_SID)
    assert state.held() == [THIRD_SID]
    late = deliver(codec, inbound_from("CA" + "4" * 32), key=KEY + "4").body.decode()
    assert "<Enqueue" in late
    assert state.held() == [THIRD_SID, "CA" + "4" * 32]
    streams.live.add(SECOND_SID)  # their stream started
    state.start_connecting(THIRD_SID)
    state.hold_first(THIRD_SID)  # connecting failed: first in line again
    assert state.held() == [THIRD_SID, "CA" + "4" * 32]


def test_row_a_held_caller_redirected_back_is_queued_again():
    state = TwilioState()
    codec = make_codec(state, streams=FakeStreams(admitting=False), stream_url=STREAM_URL)
    deliver(codec, "inbound_call")
    again = deliver(codec, "inbound_call", {"callId": INBOUND_SID}, key=KEY + "again")
    assert again.body.decode() == twiml.queue(action_url=f"{WEBHOOK}?callId={INBOUND_SID}")
    assert state.held() == [INBOUND_SID]


def test_row_a_caller_who_hangs_up_in_the_queue_leaves_it_and_the_call_ends():
    state = TwilioState()
    codec = make_codec(state, streams=FakeStreams(admitting=False), stream_url=STREAM_URL)
    deliver(codec, "inbound_call")
    left = form("inbound_call").replace(b"CallStatus=ringing", b"CallStatus=completed")
    reply = deliver(codec, left + b"&QueueResult=hangup&QueueTime=4", {"callId": INBOUND_SID},
                    key=KEY + "left")
    assert [(e.type, e.reason) for e in reply.events] == [(EventType.ENDED, "hangup-user")]
    assert reply.body.decode() == golden("empty")
    assert state.held() == [] and state.call_url(INBOUND_SID) is None


def test_row_the_queue_action_after_a_redirect_changes_nothing():
    state = TwilioState()
    codec = make_codec(state, streams=FakeStreams(admitting=False), stream_url=STREAM_URL)
    deliver(codec, "inbound_call")
    state.start_connecting(INBOUND_SID)
    left = form("inbound_call").replace(b"CallStatus=ringing", b"CallStatus=in-progress")
    reply = deliver(codec, left + b"&QueueResult=redirected", {"callId": INBOUND_SID},
                    key=KEY + "left")
    assert reply.events == [] and reply.body.decode() == golden("empty")
    assert state.call_url(INBOUND_SID) is not None


def test_row_inbound_idles_when_streaming_is_off():
    state = TwilioState()
    streams = FakeStreams(admitting=False)  # the inbound rule only applies to streams
    reply = deliver(make_codec(state, streams=streams), "inbound_call")
    call_url = f"{WEBHOOK}?callId={INBOUND_SID}"
    assert reply.body.decode() == twiml.idle(call_url)
    assert state.call_url(INBOUND_SID) == call_url
    assert streams.tokens_asked == []


def test_row_status_callback_gets_empty_twiml_and_a_terminal_one_forgets_the_call():
    state = remembered_state()
    state.set_pending_gather(OUTBOUND_SID, "turn-7")
    said: list[str] = []
    state.expect_say(OUTBOUND_SID, "say-1", lambda: said.append("say-1"))
    streams = FakeStreams(live={OUTBOUND_SID})
    codec = make_codec(state, streams=streams, stream_url=STREAM_URL)
    assert deliver(codec, "status_in_progress", STATUS_QUERY).body.decode() == golden("empty")
    assert state.call_url(OUTBOUND_SID) == CALL_URL
    assert state.pending_gather(OUTBOUND_SID) == (True, "turn-7")
    assert said == []
    assert deliver(codec, "status_no_answer", STATUS_QUERY).body.decode() == golden("empty")
    assert state.call_url(OUTBOUND_SID) is None
    assert state.pending_gather(OUTBOUND_SID) == (False, None)
    assert said == ["say-1"]  # a speech waiter is released: nobody will hear the rest
    assert streams.tokens_asked == []  # status callbacks never get stream TwiML


def test_say_done_redirect_finishes_the_say_and_gets_the_call_url_reply():
    state = remembered_state()
    said: list[str] = []
    state.expect_say(OUTBOUND_SID, "say-1", lambda: said.append("say-1"))
    reply = deliver(make_codec(state), "outbound_answer", {"callId": CALL_ID, "sayDone": "say-1"})
    assert said == ["say-1"]
    assert [e.type for e in reply.events] == [EventType.ANSWERED]
    assert reply.body.decode() == golden("idle")
    deliver(make_codec(state), "outbound_answer", {"callId": CALL_ID, "sayDone": "say-1"},
            key=KEY + "again")
    assert said == ["say-1"]  # a repeated redirect finishes nothing twice


def test_row_other_requests_stream_or_idle_only_when_in_progress():
    # An outbound call placed outside voicecall whose Url is our bare webhook.
    state = TwilioState()
    reply = deliver(make_codec(state), "outbound_answer")
    assert [(e.type, e.call_id) for e in reply.events] == [(EventType.ANSWERED, OUTBOUND_SID)]
    assert reply.body.decode() == twiml.idle(f"{WEBHOOK}?callId={OUTBOUND_SID}")
    streaming = deliver(make_codec(stream_url=STREAM_URL), "outbound_answer").body.decode()
    assert streaming == twiml.stream(STREAM_URL, f"token-for-{OUTBOUND_SID}")
    ringing = form("outbound_answer").replace(b"CallStatus=in-progress", b"CallStatus=ringing")
    assert deliver(make_codec(), ringing).body.decode() == golden("empty")


def test_call_url_is_derived_from_the_request_when_none_is_remembered():
    state = TwilioState()
    deliver(make_codec(state, endpoints=FakeEndpoints()), "outbound_answer",
            {"callId": CALL_ID}, url="https://edge.example.net/voice/webhook")
    assert state.call_url(OUTBOUND_SID) == (
        f"https://edge.example.net/voice/webhook?callId={CALL_ID}")


def test_call_url_is_derived_from_the_signed_url_when_the_endpoints_have_one():
    state = TwilioState()
    deliver(make_codec(state), "inbound_call", url="http://127.0.0.1:8080/voice/webhook")
    assert state.call_url(INBOUND_SID) == f"{WEBHOOK}?callId={INBOUND_SID}"


# -- dedupe keys -------------------------------------------------------------------------------


def test_without_a_verified_key_identical_payloads_share_a_fallback_key():
    codec = make_codec()
    first = deliver(codec, "status_ringing", STATUS_QUERY, key="").events[0]
    second = deliver(codec, "status_ringing", STATUS_QUERY, key="").events[0]
    assert first.dedupe_key.startswith("twilio:fallback:")
    assert first.dedupe_key == second.dedupe_key
    assert first.id != second.id
    other_turn = deliver(codec, "status_ringing", {**STATUS_QUERY, "turnToken": "t2"}, key="")
    assert other_turn.events[0].dedupe_key != first.dedupe_key


def test_a_verified_key_is_used_verbatim():
    [event] = deliver(make_codec(), "status_ringing", STATUS_QUERY, key="twilio:req:abc").events
    assert event.dedupe_key == "twilio:req:abc"


# -- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    b'{"CallSid": "CA123"}',
    b"CallSid=CA123&&CallStatus=ringing",
    b"CallSid=CA%FF",
    b"CallStatus=ringing&Direction=inbound",
    b"CallSid=&CallStatus=ringing",
    b"",
])
def test_malformed_bodies_raise_value_error(body):
    with pytest.raises(ValueError):
        make_codec().parse(request(WEBHOOK, body), KEY, NOW)
