"""Each carrier's recording report -> one ``call.recording`` event (issue 15, item 3).

Bodies in the carriers' documented shapes, signed with the official SDKs' functions (Twilio's
RequestValidator, Plivo's V3 signing as ``tests.providers.plivo.util`` does it) or an Ed25519
key made with ``cryptography`` (Telnyx). A report that is not a finished recording gives no
event; a re-sent report has the same dedupe key, so the daemon counts it once.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from tests.providers.plivo import util as plivo
from tests.providers.telnyx import util as telnyx
from tests.providers.twilio import util as twilio
from tests.providers.twilio.test_webhooks import WEBHOOK as TWILIO_WEBHOOK
from tests.providers.twilio.test_webhooks import make_codec as twilio_codec
from voicecall_cli.core.events import EventType
from voicecall_cli.providers.bodies import whole_seconds
from voicecall_cli.providers.telnyx.signature import load_public_key
from voicecall_cli.providers.telnyx.state import TelnyxState, encode_client_state
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec

NOW = 1_796_141_484_000
RECORDING_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE0123"


# -- Twilio: RecordingStatusCallback -----------------------------------------------------------

def twilio_recording(status: str = "completed", duration: str = "17"):
    params = {"AccountSid": "AC1", "CallSid": twilio.OUTBOUND_SID, "RecordingSid": "RE0123",
              "RecordingUrl": RECORDING_URL, "RecordingStatus": status,
              "RecordingDuration": duration, "RecordingChannels": "2",
              "RecordingSource": "StartCallRecordingAPI"}
    body = urlencode(params).encode()
    url = TWILIO_WEBHOOK + "?" + urlencode({"callId": twilio.CALL_ID, "type": "recording"})
    request = twilio.request(url, body, signature=twilio.sign(url, body))
    codec = twilio_codec()
    verdict = codec.verify(request, NOW)
    assert verdict.ok, verdict.reason
    return codec.parse(request, verdict.key or "", NOW)


def test_twilio_completed_recording_is_one_event_keyed_by_its_sid() -> None:
    reply = twilio_recording()
    assert reply.status == 200
    [event] = reply.events
    assert (event.type, event.call_id, event.provider_call_id) == (
        EventType.RECORDING, twilio.CALL_ID, twilio.OUTBOUND_SID)
    assert (event.recording_url, event.recording_duration_s) == (RECORDING_URL, 17)
    assert event.dedupe_key == "twilio:recording:RE0123"  # a re-sent callback counts once


def test_twilio_recording_that_is_not_completed_gives_nothing() -> None:
    assert twilio_recording(status="absent").events == []
    assert twilio_recording(status="in-progress").events == []
    assert twilio_recording(duration="").events[0].recording_duration_s is None


# -- Telnyx: call.recording.saved ---------------------------------------------------------------

def telnyx_saved(payload: dict) -> list:
    key = telnyx.new_key()
    body = json.dumps({"data": {"record_type": "event", "event_type": "call.recording.saved",
                                "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
                                "occurred_at": "2026-12-01T14:11:24.521992Z",
                                "payload": payload}}).encode()
    codec = TelnyxWebhookCodec(load_public_key(telnyx.public_raw_b64(key)), TelnyxState())
    request = telnyx.request(body, telnyx.signed_headers(key, body, NOW // 1000))
    verdict = codec.verify(request, NOW)
    assert verdict.ok, verdict.reason
    return codec.parse(request, verdict.key or "", NOW).events


def test_telnyx_saved_recording_prefers_the_public_url_and_times_its_length() -> None:
    [event] = telnyx_saved({
        "call_control_id": telnyx.PID, "client_state": encode_client_state(telnyx.CALL_ID),
        "channels": "dual", "recording_started_at": "2026-12-01T14:10:00.250000Z",
        "recording_ended_at": "2026-12-01T14:10:42.750000Z",
        "recording_urls": {"mp3": "https://s3.example/private.mp3"},
        "public_recording_urls": {"mp3": "https://s3.example/public.mp3"}})
    assert (event.type, event.call_id, event.provider_call_id) == (
        EventType.RECORDING, telnyx.CALL_ID, telnyx.PID)
    assert (event.recording_url, event.recording_duration_s) == (
        "https://s3.example/public.mp3", 42)  # 42.5 s, rounded half to even
    assert event.dedupe_key == "telnyx:event:0ccc7b54-4df3-4bca-a65a-3da1ecc777f0"


def test_telnyx_documented_payload_without_call_control_id_still_names_the_call() -> None:
    # The documented example names only the leg and session; client_state carries our id.
    [event] = telnyx_saved({
        "call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
        "client_state": encode_client_state(telnyx.CALL_ID), "channels": "single",
        "recording_urls": {"wav": "https://s3.example/r.wav"}})
    assert event.call_id == telnyx.CALL_ID
    assert (event.recording_url, event.recording_duration_s) == ("https://s3.example/r.wav",
                                                                 None)


def test_telnyx_saved_recording_without_a_url_gives_nothing() -> None:
    assert telnyx_saved({"call_control_id": telnyx.PID, "recording_urls": {}}) == []


# -- Plivo: the Record API's callback_url --------------------------------------------------------

def plivo_callback(pairs: list[tuple[str, str]]):
    url = plivo.call_url({"callId": plivo.CALL_ID, "flow": "recording"})
    reply, _ = plivo.deliver(plivo.make_codec(), url, pairs)
    return reply


def test_plivo_record_callback_is_one_event_keyed_by_the_recording() -> None:
    reply = plivo_callback([
        ("api_id", "c7b69074-58be-11e1-86da-adf28403fe48"),
        ("record_url", "https://media.plivo.com/r/ffca7d3abcc0.mp3"),
        ("call_uuid", plivo.CALL_UUID), ("recording_id", "ffca7d3abcc0"),
        ("recording_duration", "12"), ("recording_duration_ms", "12480.00000"),
        ("recording_start_ms", "1796141470000.00000"),
        ("recording_end_ms", "1796141482480.00000")])
    assert reply.status == 200
    [event] = reply.events
    assert (event.type, event.call_id, event.provider_call_id) == (
        EventType.RECORDING, plivo.CALL_ID, plivo.CALL_UUID)
    assert (event.recording_url, event.recording_duration_s) == (
        "https://media.plivo.com/r/ffca7d3abcc0.mp3", 12)
    assert event.dedupe_key == "plivo:recording:ffca7d3abcc0"


def test_plivo_record_callback_with_milliseconds_only_and_without_a_url() -> None:
    [event] = plivo_callback([("record_url", "https://media.plivo.com/r/x.mp3"),
                              ("call_uuid", plivo.CALL_UUID),
                              ("recording_duration_ms", "3600")]).events
    assert event.recording_duration_s == 4
    assert plivo_callback([("call_uuid", plivo.CALL_UUID)]).events == []


def test_durations_are_whole_seconds_or_unknown() -> None:
    assert [whole_seconds(v) for v in ("17", " 9 ", "12.5", 3, "")] == [17, 9, 12, 3, None]
    assert [whole_seconds(v) for v in ("-1", "1e3", "٣", "9" * 4000, True, None, -2)] == [
        None] * 7
