"""The Twilio Media Streams codec on frames shaped like Twilio's documented examples: the
module's typed ``decode``/``encode_*`` and :class:`TwilioMediaCodec`, which maps them onto the
provider-neutral events of ``providers.media_codec``."""

from __future__ import annotations

import base64
import json

import pytest

from voicecall_cli.providers.media_codec import (
    AudioIn,
    DtmfIn,
    MarkPlayed,
    MediaCodec,
    StreamStarted,
    StreamStopped,
)
from voicecall_cli.providers.twilio.media import (
    Connected,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    TwilioMediaCodec,
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


def test_dtmf() -> None:
    assert decode(DTMF) == Dtmf(SID, "1")


def test_events_we_do_not_handle_decode_to_none() -> None:
    assert decode('{"event": "clear", "streamSid": "MZ1"}') is None
    assert decode('{"event": "something-new"}') is None


MALFORMED = [
    "{not json", "[1, 2]", '{"no": "event"}', '{"event": 5}', b"\xff\xfe",
    '{"event": "media", "media": {"payload": "***"}}',
    '{"event": "media", "media": {}}',
    '{"event": "media"}',
    '{"event": "start", "start": {"callSid": "CA1"}}',
    '{"event": "start", "streamSid": "MZ1", "start": {"customParameters": []}}',
    '{"event": "mark", "mark": {}}',
    '{"event": "stop", "streamSid": 7}',
    '{"event": "dtmf", "dtmf": {}}',
    '{"event": "dtmf", "dtmf": {"digit": 1}}',
    '{"event": "dtmf"}',
]


@pytest.mark.parametrize("frame", MALFORMED)
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


# -- TwilioMediaCodec: Twilio frames -> the provider-neutral media events ----------------------

CODEC: MediaCodec = TwilioMediaCodec()


def test_codec_name() -> None:
    assert CODEC.name == "twilio"


def test_codec_start_carries_stream_call_and_token() -> None:
    assert CODEC.decode(START) == StreamStarted(stream_id=SID, provider_call_id=CALL,
                                                token="tok-123")


def test_codec_start_without_token_or_call_sid() -> None:
    message = json.loads(START)
    del message["start"]["callSid"]
    message["start"]["customParameters"] = {"FirstName": "Jane"}
    assert CODEC.decode(json.dumps(message)) == StreamStarted(SID, None, None)
    message["start"]["customParameters"] = {"token": 123}  # not a string: no token
    assert CODEC.decode(json.dumps(message)) == StreamStarted(SID, None, None)
    del message["start"]["customParameters"]
    assert CODEC.decode(json.dumps(message)) == StreamStarted(SID, None, None)


def test_codec_start_takes_the_stream_sid_from_inside_start_too() -> None:
    message = json.loads(START)
    del message["streamSid"]
    assert CODEC.decode(json.dumps(message)) == StreamStarted(SID, CALL, "tok-123")


def test_codec_media_is_audio_in() -> None:
    assert CODEC.decode(MEDIA) == AudioIn(base64.b64decode("no+JhoaJjpzSHxAKBgYJDh4wBA=="))
    assert CODEC.decode(MEDIA.encode()) == AudioIn(
        base64.b64decode("no+JhoaJjpzSHxAKBgYJDh4wBA=="))


def test_codec_mark_stop_and_dtmf() -> None:
    assert CODEC.decode(MARK) == MarkPlayed("my label")
    assert CODEC.decode(STOP) == StreamStopped()
    assert CODEC.decode('{"event": "stop"}') == StreamStopped()  # no stop object: still stopped
    assert CODEC.decode(DTMF) == DtmfIn("1")


def test_codec_frames_the_daemon_does_not_act_on_decode_to_none() -> None:
    assert CODEC.decode(CONNECTED) is None
    assert CODEC.decode('{"event": "clear", "streamSid": "MZ1"}') is None
    assert CODEC.decode('{"event": "something-new"}') is None


@pytest.mark.parametrize("frame", MALFORMED)
def test_codec_malformed_frames_raise_value_error(frame) -> None:
    with pytest.raises(ValueError):
        CODEC.decode(frame)


def test_codec_encoders_write_the_same_frames_as_the_module() -> None:
    audio = bytes(range(160))
    assert CODEC.encode_audio(SID, audio) == encode_media(SID, audio)
    assert CODEC.encode_mark(SID, "vc-1") == encode_mark(SID, "vc-1")
    assert CODEC.encode_clear(SID) == encode_clear(SID)
    hostile = 'MZ"},"event":"stop'
    assert json.loads(CODEC.encode_audio(hostile, b"\xff"))["streamSid"] == hostile


def test_codec_round_trips_what_it_encodes() -> None:
    assert CODEC.decode(CODEC.encode_audio(SID, b"\x00\x7f\xff")) == AudioIn(b"\x00\x7f\xff")
    assert CODEC.decode(CODEC.encode_mark(SID, "vc-9")) == MarkPlayed("vc-9")
    assert CODEC.decode(CODEC.encode_clear(SID)) is None  # Twilio never sends clear back
