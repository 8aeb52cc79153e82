"""The mock webhook codec: keys, parsing, defaults and falsy values (anchor 4.4)."""

import hashlib
import json

import pytest

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.base import WebhookRequest
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec, encode_mock_event

NOW = 1_700_000_000_000
codec = MockWebhookCodec()


def request(body: bytes | dict) -> WebhookRequest:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    return WebhookRequest(method="POST", url="http://localhost/voice/webhook",
                          path="/voice/webhook", query={}, headers={}, body=body,
                          remote_addr="127.0.0.1")


def parse(body: bytes | dict, key: str = "mock:k"):
    return codec.parse(request(body), key, NOW)


def test_needs_no_auth_headers():
    assert codec.name == "mock"
    assert codec.has_auth_headers({}) is True


def test_key_is_the_body_hash_so_identical_payloads_share_it():
    body = b'{"event":{"type":"call.ringing","callId":"c1"}}'
    first = codec.verify(request(body), NOW)
    again = codec.verify(request(body), NOW + 5)
    other = codec.verify(request(body + b" "), NOW)
    assert first.ok and first.key == "mock:" + hashlib.sha256(body).hexdigest()
    assert again.key == first.key
    assert other.key != first.key


def test_single_event_gets_defaults_and_the_request_key():
    reply = parse({"event": {"type": "call.speech", "callId": "c1"}}, key="mock:abc")
    [event] = reply.events
    assert event.type is EventType.SPEECH
    assert event.call_id == "c1"
    assert event.timestamp == NOW
    assert len(event.id) == 36  # a uuid4
    assert event.dedupe_key == "mock:abc"
    assert (event.transcript, event.is_final, event.confidence) == ("", True, None)
    assert (event.reason, event.error, event.digits, event.duration_ms) == (
        "completed", "unknown error", "", 0)
    assert (reply.status, reply.body) == (200, b'{"ok":true}')
    assert reply.headers["content-type"] == "application/json"


def test_explicit_falsy_values_are_preserved():
    [speech, error] = parse({"events": [
        {"type": "call.speech", "callId": "c1", "timestamp": 0, "isFinal": False,
         "transcript": "", "confidence": 0},
        {"type": "call.error", "callId": "c1", "error": "", "retryable": False},
    ]}).events
    assert speech.timestamp == 0
    assert speech.is_final is False
    assert speech.confidence == 0
    assert error.error == ""
    assert error.retryable is False


def test_all_camel_case_fields_map():
    [event] = parse({"event": {
        "type": "call.ended", "callId": "c1", "id": "ev-1", "timestamp": 5,
        "providerCallId": "mock-c1", "turnToken": "t1", "direction": "outbound",
        "from": "+15550000000", "to": "+15551234567", "reason": "hangup-user"}}).events
    assert (event.id, event.timestamp, event.provider_call_id, event.turn_token) == (
        "ev-1", 5, "mock-c1", "t1")
    assert (event.direction, event.from_number, event.to_number, event.reason) == (
        "outbound", "+15550000000", "+15551234567", "hangup-user")


def test_multi_event_bodies_index_the_dedupe_key_and_skip_incomplete_events():
    events = parse({"events": [
        {"type": "call.ringing", "callId": "c1"},
        {"type": "call.unknown", "callId": "c1"},
        {"callId": "c1"},
        {"type": "call.answered"},
        "not an object",
        {"type": "call.dtmf", "callId": "c1", "digits": "12#"},
    ]}, key="mock:k").events
    assert [(e.type, e.dedupe_key) for e in events] == [
        (EventType.RINGING, "mock:k:0"), (EventType.DTMF, "mock:k:5")]
    assert events[1].digits == "12#"


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", b"[]", b'"text"', b"{}", b'{"events": {}}',
    b'{"event": {"type": "call.ringing", "callId": "c1", "timestamp": "soon"}}',
    b'{"event": {"type": "call.speech", "callId": "c1", "isFinal": "yes"}}',
    b'{"event": {"type": "call.silence", "callId": "c1", "durationMs": true}}',
    b'{"event": {"type": "call.ended", "callId": "c1", "reason": "exploded"}}',
])
def test_malformed_bodies_raise_value_error(body):
    with pytest.raises(ValueError):
        parse(body)


@pytest.mark.parametrize("event", [
    NormalizedEvent(EventType.SPEECH, "e1", "c1", 10, provider_call_id="mock-c1",
                    turn_token="tok", transcript="hello", is_final=False, confidence=0.5),
    NormalizedEvent(EventType.ENDED, "e2", "c1", 0, reason="busy"),
    NormalizedEvent(EventType.ERROR, "e3", "c1", 7, error="", retryable=True),
    NormalizedEvent(EventType.RINGING, "e4", "c1", 8, direction="inbound",
                    from_number="+1555", to_number="+1666"),
])
def test_encode_then_parse_round_trips(event):
    body = encode_mock_event(event)
    [parsed] = codec.parse(request(body), "mock:x", NOW).events
    event.dedupe_key = "mock:x"
    assert parsed == event
