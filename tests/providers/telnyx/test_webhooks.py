"""TelnyxWebhookCodec: golden webhook bodies (Telnyx's documented shapes) -> events.

Every fixture in ``fixtures/`` is a kind of webhook the provider consumes; the table below is
what each must become. Verification itself is in ``test_signature.py``; here the codec's own
gate and the shared state it updates."""

from __future__ import annotations

import json

import pytest

from tests.providers.telnyx.util import (
    CALL_ID,
    FIXTURES,
    NOW_MS,
    PID,
    fixture,
    fixture_json,
    new_key,
    public_raw_b64,
    request,
    signed_headers,
)
from voicecall_cli.core.events import EventType
from voicecall_cli.providers.telnyx.signature import load_public_key
from voicecall_cli.providers.telnyx.state import TelnyxState, encode_client_state
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec

KEY = "telnyx:0123"
NONE: tuple = ()

# fixture -> (event type, fields that must hold) or NONE
GOLDEN = {
    "call_initiated_outbound": (EventType.INITIATED, {
        "call_id": CALL_ID, "direction": "outbound", "from_number": "+15550002222",
        "to_number": "+15550001111", "turn_token": None}),
    "call_initiated_inbound": (EventType.INITIATED, {
        "call_id": PID, "direction": "inbound", "from_number": "+15550003333",
        "to_number": "+15550002222"}),
    "call_answered": (EventType.ANSWERED, {"call_id": CALL_ID}),
    "call_bridged": (EventType.ACTIVE, {"call_id": CALL_ID}),
    "call_hangup_normal": (EventType.ENDED, {"reason": "completed"}),
    "call_hangup_busy": (EventType.ENDED, {"reason": "busy"}),
    "call_hangup_unknown_cause": (EventType.ENDED, {"reason": "completed"}),
    "call_speak_started": (EventType.SPEAKING, {"call_id": CALL_ID}),
    "call_transcription_final": (EventType.SPEECH, {
        "transcript": "Yes, tomorrow at ten works.", "is_final": True,
        "confidence": 0.977219, "call_id": CALL_ID, "turn_token": "turn-7f3a"}),
    "call_transcription_partial": (EventType.SPEECH, {
        "transcript": "Yes, tomorrow", "is_final": False, "turn_token": "turn-7f3a"}),
    "call_transcription_flat": (EventType.SPEECH, {
        "transcript": "Flat style words.", "is_final": True, "confidence": 0.8}),
    "call_dtmf_received": (EventType.DTMF, {"digits": "5"}),
    "call_speak_ended": NONE,
    "streaming_started": NONE,
    "streaming_stopped": NONE,
    "streaming_failed": NONE,
    "call_recording_saved": (EventType.RECORDING, {
        "call_id": CALL_ID, "recording_url": "https://example.com/r.mp3",
        "recording_duration_s": None}),
}


def codec(state: TelnyxState | None = None) -> TelnyxWebhookCodec:
    return TelnyxWebhookCodec(None, state or TelnyxState())


def test_every_fixture_has_a_golden_row() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden(name: str) -> None:
    reply = codec().parse(request(fixture(name)), KEY, NOW_MS)
    assert (reply.status, reply.body) == (200, b"OK")
    expected = GOLDEN[name]
    if expected is NONE:
        assert reply.events == []
        return
    kind, fields = expected
    [event] = reply.events
    data = fixture_json(name)["data"]
    assert event.type is kind
    assert event.provider_call_id == PID
    assert event.id == data["id"]
    assert event.dedupe_key == f"telnyx:event:{data['id']}"  # not the request key
    assert event.timestamp == NOW_MS
    for field, value in fields.items():
        assert getattr(event, field) == value, field


def test_a_redelivered_event_has_the_same_dedupe_key() -> None:
    """Telnyx re-delivers with a new timestamp and signature; the manager sees one event."""
    key = new_key()
    body = fixture("call_answered")
    c = TelnyxWebhookCodec(load_public_key(public_raw_b64(key)), TelnyxState())
    first = request(body, signed_headers(key, body, NOW_MS // 1000))
    again = request(body, signed_headers(key, body, NOW_MS // 1000 + 7))
    v1, v2 = c.verify(first, NOW_MS), c.verify(again, NOW_MS)
    assert v1.ok and v2.ok and v1.key != v2.key
    e1 = c.parse(first, v1.key, NOW_MS).events[0]
    e2 = c.parse(again, v2.key, NOW_MS).events[0]
    assert e1.key == e2.key


def test_auth_header_gate_needs_both_headers() -> None:
    c = codec()
    assert c.has_auth_headers({"telnyx-signature-ed25519": "x", "telnyx-timestamp": "1"})
    assert not c.has_auth_headers({"telnyx-signature-ed25519": "x"})
    assert not c.has_auth_headers({"telnyx-timestamp": "1"})


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"[" * 100_000])
def test_a_body_that_is_not_json_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(ValueError):
        codec().parse(request(body), KEY, NOW_MS)


@pytest.mark.parametrize("body", [b"{}", b"[]", b'{"data": {}}', b'{"data": {"event_type": 5}}',
                                  b'{"data": {"event_type": "call.answered", "payload": {}}}'])
def test_json_without_an_event_or_a_call_is_acknowledged_with_no_events(body: bytes) -> None:
    reply = codec().parse(request(body), KEY, NOW_MS)
    assert (reply.status, reply.events) == (200, [])


def test_malformed_client_state_is_taken_as_the_call_id() -> None:
    data = fixture_json("call_answered")
    data["data"]["payload"]["client_state"] = "not*base64"
    [event] = codec().parse(request(json.dumps(data).encode()), KEY, NOW_MS).events
    assert event.call_id == "not*base64"


def test_a_lone_surrogate_escape_is_refused_not_stored() -> None:
    """``\\ud800`` is valid JSON but not text: the whole delivery is refused (400), so no
    event carries it to the store or the event stream. A paired escape is text and passes."""
    body = fixture("call_transcription_final").replace(b"ten works", b"ten \\ud800works")
    with pytest.raises(ValueError, match="lone surrogate"):
        codec().parse(request(body), KEY, NOW_MS)
    paired = fixture("call_transcription_final").replace(b"ten works",
                                                         b"ten \\ud83d\\ude00works")
    [event] = codec().parse(request(paired), KEY, NOW_MS).events
    assert event.transcript == "Yes, tomorrow at ten \U0001f600works."


def test_speak_ended_finishes_the_oldest_speech_of_that_call_once() -> None:
    state = TelnyxState()
    done: list[str] = []
    state.expect_speak_end(PID, lambda: done.append("first"))
    state.expect_speak_end(PID, lambda: done.append("second"))
    state.expect_speak_end("other-call", lambda: done.append("other"))
    c = codec(state)
    body = fixture("call_speak_ended")
    c.parse(request(body), KEY, NOW_MS)
    assert done == ["first"]
    c.parse(request(body), "telnyx:redelivered", NOW_MS)  # same data.id, re-delivered
    assert done == ["first"]
    c.parse(request(body.replace(b'"id": "', b'"id": "x')), KEY, NOW_MS)
    assert done == ["first", "second"]


def test_hangup_releases_the_calls_waiting_speeches() -> None:
    state = TelnyxState()
    done: list[str] = []
    state.expect_speak_end(PID, lambda: done.append("speech"))
    codec(state).parse(request(fixture("call_hangup_normal")), KEY, NOW_MS)
    assert done == ["speech"]


def test_client_state_round_trip() -> None:
    from voicecall_cli.providers.telnyx.state import decode_client_state

    assert decode_client_state(encode_client_state(CALL_ID)) == (CALL_ID, None)
    assert decode_client_state(encode_client_state(CALL_ID, "t1")) == (CALL_ID, "t1")
    assert decode_client_state(None) == (None, None)
