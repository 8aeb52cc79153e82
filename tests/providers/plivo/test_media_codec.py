"""PlivoMediaCodec: the frames of Plivo's bidirectional audio stream (as Plivo's stream
reference documents them) in and out, and the hex stream token that rides in extraHeaders."""

from __future__ import annotations

import base64
import json

import pytest

from tests.providers.plivo.util import CALL_UUID
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.media_codec import (
    AudioIn,
    DtmfIn,
    MarkPlayed,
    StreamStarted,
    StreamStopped,
)
from voicecall_cli.providers.plivo.media import PlivoMediaCodec, token_for_xml, token_from_xml

CODEC = PlivoMediaCodec()
STREAM = "20170ada-f610-433b-8758-c02a2aab3662"
AUDIO = bytes(range(160))  # one 20 ms mu-law frame
TOKEN = StreamRegistry(secret=b"m" * 32).token(CALL_UUID)
HEX = base64.urlsafe_b64decode(TOKEN + "=" * (-len(TOKEN) % 4)).hex()


def frame(**message) -> str:
    return json.dumps(message)


def start(extra_headers: object = f"token={HEX}", **over) -> str:
    body = {"callId": CALL_UUID, "streamId": STREAM, "accountId": "MAODUYNDY0MTZIZDQ1OG",
            "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw",
                                                    "sampleRate": 8000}}
    body.update(over)
    message = {"event": "start", "sequenceNumber": 0, "start": body}
    if extra_headers is not None:
        message["extra_headers"] = extra_headers
    return json.dumps(message)


def media(track: str | None = "inbound", payload: str | None = None) -> str:
    body = {"timestamp": "1719929240100", "chunk": 3,
            "payload": payload if payload is not None else base64.b64encode(AUDIO).decode()}
    if track is not None:
        body["track"] = track
    return frame(event="media", sequenceNumber=4, streamId=STREAM, media=body)


@pytest.mark.parametrize("extra", [
    f"token={HEX}",
    f"token={HEX};other=1",
    f"other=1;token={HEX}",
    f"other=1,token={HEX}",
    f"token = {HEX.upper()} ; other = 2",
    json.dumps({"token": HEX, "other": "1"}),
    {"token": HEX},
])
def test_start_names_the_call_and_the_token_it_presents(extra: object) -> None:
    assert CODEC.decode(start(extra)) == StreamStarted(STREAM, CALL_UUID, TOKEN)


@pytest.mark.parametrize("extra", [
    None, "", "other=1", "token=", "token=xyz", f"token={HEX}a", f"token={HEX[:-1]}",
    "token=" + "ab" * 200, "{not json", json.dumps({"token": 7}), json.dumps([HEX]), 42,
    "{" * 5000,
])
def test_a_missing_or_malformed_token_is_none(extra: object) -> None:
    """The daemon then refuses the stream (it checks the token); the frame itself is fine."""
    decoded = CODEC.decode(start(extra))
    assert decoded == StreamStarted(STREAM, CALL_UUID, None)


def test_start_without_a_call_id_or_with_a_top_level_stream_id() -> None:
    message = json.loads(start())
    del message["start"]["callId"]
    message["streamId"] = message["start"].pop("streamId")
    assert CODEC.decode(json.dumps(message)) == StreamStarted(STREAM, None, TOKEN)


def test_media_is_the_callers_audio() -> None:
    assert CODEC.decode(media()) == AudioIn(AUDIO)
    assert CODEC.decode(media(track=None)) == AudioIn(AUDIO)  # one track: the caller's
    assert CODEC.decode(media(track="outbound")) is None  # our own audio echoed back


def test_other_frames_from_plivo() -> None:
    assert CODEC.decode(frame(event="dtmf", sequenceNumber=5, streamId=STREAM,
                              dtmf={"track": "inbound", "digit": "5",
                                    "timestamp": "1719929240200"})) == DtmfIn("5")
    assert CODEC.decode(frame(event="playedStream", sequenceNumber=6, streamId=STREAM,
                              name="utt-1")) == MarkPlayed("utt-1")
    assert CODEC.decode(frame(event="clearedAudio", sequenceNumber=7, streamId=STREAM)) is None
    assert CODEC.decode(frame(event="stop", sequenceNumber=8, streamId=STREAM)) == (
        StreamStopped())
    assert CODEC.decode(frame(event="somethingNew", streamId=STREAM)) is None
    assert CODEC.decode(media().encode()) == AudioIn(AUDIO)  # a binary frame of the same JSON


@pytest.mark.parametrize("raw", [
    "nope", "[]", "null", '"start"', '{"event": 1}', "{}", b"\xff\xfe",
    media(payload="%%%not base64%%%"), media(payload="QUJ"), frame(event="media"),
    frame(event="media", media={"track": "inbound"}), frame(event="media", media="x"),
    frame(event="start", start={}), frame(event="start", start={"streamId": 5}),
    frame(event="start", start={"streamId": STREAM, "callId": 5}),
    frame(event="dtmf", dtmf={}), frame(event="dtmf", dtmf={"digit": ""}),
    frame(event="playedStream"), frame(event="playedStream", name=3),
])
def test_malformed_frames_are_value_errors(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        CODEC.decode(raw)


def test_what_we_send_is_what_plivo_documents() -> None:
    assert json.loads(CODEC.encode_audio(STREAM, AUDIO)) == {
        "event": "playAudio",
        "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000,
                  "payload": base64.b64encode(AUDIO).decode()}}
    assert json.loads(CODEC.encode_mark(STREAM, "utt-1")) == {
        "event": "checkpoint", "streamId": STREAM, "name": "utt-1"}
    assert json.loads(CODEC.encode_clear(STREAM)) == {"event": "clearAudio", "streamId": STREAM}
    assert json.loads(CODEC.encode_mark(STREAM, 'a "quoted" \\ name')) == {
        "event": "checkpoint", "streamId": STREAM, "name": 'a "quoted" \\ name'}
    assert (CODEC.name, CODEC.token_header) == ("plivo", None)


def test_a_frame_we_send_decodes_back_to_the_audio() -> None:
    sent = json.loads(CODEC.encode_audio(STREAM, b""))
    assert sent["media"]["payload"] == ""
    assert base64.b64decode(json.loads(CODEC.encode_audio(STREAM, AUDIO))["media"][
        "payload"]) == AUDIO


@pytest.mark.parametrize("call", [CALL_UUID, "bd1b4d94-55e7-4d7f-9d4a-3a8b5e0f7c22", "x", "é"])
def test_the_stream_token_survives_the_hex_round_trip(call: str) -> None:
    registry = StreamRegistry()
    token = registry.token(call)
    carried = token_for_xml(token)
    assert carried.isalnum() and carried == carried.lower()
    assert token_from_xml(carried) == token
    assert token_from_xml(carried.upper()) == token
    assert registry.check_token(call, token_from_xml(carried))
    assert not registry.check_token("another-call", token_from_xml(carried))


@pytest.mark.parametrize("value", ["", "   ", "abc", "zz", "0g", "ab" * 129])
def test_values_that_are_not_such_hex_give_no_token(value: str) -> None:
    assert token_from_xml(value) is None
