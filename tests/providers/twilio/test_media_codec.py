"""The Twilio Media Streams codec on frames shaped like Twilio's documented examples."""

from __future__ import annotations

import base64
import json

import pytest

from voicecall_cli.providers.twilio.media import (
    Connected,
    Mark,
    Media,
    Start,
    Stop,
    decode,
    encode_clear,
    encode_mark,
    encode_media,
)

SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL = "CA4d5c9e0d5b2e1c2e63a9f0b3c0f1b2a7"
ACCOUNT = "AC7c5e8a2a6d4e4f0b8e1f3c9a2b6d4e10"

CONNECTED = '{"event": "connected", "protocol": "Call", "version": "1.0.0"}'
START = json.dumps({
    "event": "start", "sequenceNumber": "1",
    "start": {"accountSid": ACCOUNT, "streamSid": SID, "callSid": CALL, "tracks": ["inbound"],
              "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
              "customParameters": {"token": "tok-123", "FirstName": "Jane"}},
    "streamSid": SID})
MEDIA = json.dumps({
    "event": "media", "sequenceNumber": "3",
    "media": {"track": "inbound", "chunk": "1", "timestamp": "5",
              "payload": "no+JhoaJjpzSHxAKBgYJDh4wBA=="},
    "streamSid": SID})
MARK = json.dumps({"event": "mark", "sequenceNumber": "4", "streamSid": SID,
                   "mark": {"name": "my label"}})
STOP = json.dumps({"event": "stop", "sequenceNumber": "5", "streamSid": SID,
                   "stop": {"accountSid": ACCOUNT, "callSid": CALL}})
DTMF = json.dumps({"event": "dtmf", "streamSid": SID, "sequenceNumber": "5",
                   "dtmf": {"track": "inbound_track", "digit": "1"}})


def test_connected() -> None:
    assert decode(CONNECTED) == Connected(protocol="Call", version="1.0.0")


def test_start_carries_the_call_the_token_and_the_format() -> None:
    event = decode(START)
    assert isinstance(event, Start)
    assert (event.stream_sid, event.call_sid, event.account_sid) == (SID, CALL, ACCOUNT)
    assert event.custom_parameters == {"token": "tok-123", "FirstName": "Jane"}
    assert event.tracks == ("inbound",)
    assert event.media_format == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}


def test_start_without_call_sid_decodes_with_none() -> None:
    message = json.loads(START)
    del message["start"]["callSid"]
    event = decode(json.dumps(message))
    assert isinstance(event, Start) and event.call_sid is None


def test_media_payload_is_base64_decoded() -> None:
    event = decode(MEDIA.encode())  # bytes frames decode too
    assert event == Media(SID, base64.b64decode("no+JhoaJjpzSHxAKBgYJDh4wBA=="), "inbound", 1, 5)


def test_mark_and_stop() -> None:
    assert decode(MARK) == Mark(SID, "my label")
    assert decode(STOP) == Stop(SID, CALL)


def test_events_we_do_not_handle_decode_to_none() -> None:
    assert decode(DTMF) is None


@pytest.mark.parametrize("frame", [
    "{not json", "[1, 2]", '{"no": "event"}', '{"event": 5}', b"\xff\xfe",
    '{"event": "media", "media": {"payload": "***"}}',
    '{"event": "media", "media": {}}',
    '{"event": "media"}',
    '{"event": "start", "start": {"callSid": "CA1"}}',
    '{"event": "start", "streamSid": "MZ1", "start": {"customParameters": []}}',
    '{"event": "mark", "mark": {}}',
    '{"event": "stop", "streamSid": 7}',
])
def test_malformed_frames_raise_value_error(frame) -> None:
    with pytest.raises(ValueError):
        decode(frame)


def test_encoded_frames_are_what_twilio_expects() -> None:
    audio = bytes(range(160))
    assert json.loads(encode_media(SID, audio)) == {
        "event": "media", "streamSid": SID,
        "media": {"payload": base64.b64encode(audio).decode()}}
    assert json.loads(encode_mark(SID, "vc-1")) == {
        "event": "mark", "streamSid": SID, "mark": {"name": "vc-1"}}
    assert json.loads(encode_clear(SID)) == {"event": "clear", "streamSid": SID}


def test_a_hostile_stream_sid_cannot_break_the_json() -> None:
    sid = 'MZ"},"event":"stop'
    assert json.loads(encode_media(sid, b"\xff"))["streamSid"] == sid
    assert json.loads(encode_mark(sid, 'x"y'))["mark"]["name"] == 'x"y'


def test_what_we_encode_decodes_back() -> None:
    assert decode(encode_media(SID, b"\x00\x7f\xff")) == Media(SID, b"\x00\x7f\xff")
    assert decode(encode_mark(SID, "vc-9")) == Mark(SID, "vc-9")
