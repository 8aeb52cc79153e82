"""TelnyxMediaCodec: Telnyx's media-stream frames (as its AsyncAPI documents them) in and out."""

from __future__ import annotations

import base64
import json

import pytest

from tests.providers.telnyx.util import CALL_ID, PID
from voicecall_cli.providers.media_codec import (
    AudioIn,
    DtmfIn,
    MarkPlayed,
    StreamCredential,
    StreamStarted,
    StreamStopped,
)
from voicecall_cli.providers.telnyx.media import TelnyxMediaCodec
from voicecall_cli.providers.telnyx.state import encode_client_state

STREAM = "32de0dea-53cb-4b21-89a4-9e0a9b8e7d2a"
CODEC = TelnyxMediaCodec()
AUDIO = bytes(range(160))


def frame(**message) -> str:
    return json.dumps(message)


def start(client_state: str | None = encode_client_state(CALL_ID), **over) -> str:
    body = {"user_id": "3e6f995f-85f7-4705-9741-53b116d28237", "call_control_id": PID,
            "call_session_id": "ff55a038-6f5a-11ef-9692-02420aef0b1f", "from": "+15550002222",
            "to": "+15550001111", "tags": [], "client_state": client_state,
            "custom_parameters": {},
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}
    body.update(over)
    return frame(event="start", sequence_number="1", start=body, stream_id=STREAM)


def media(chunk: str | None = "2", seq: str = "3", track: str = "inbound") -> str:
    m = {"track": track, "timestamp": "20", "payload": base64.b64encode(AUDIO).decode()}
    if chunk is not None:
        m["chunk"] = chunk
    return frame(event="media", sequence_number=seq, media=m, stream_id=STREAM)


def test_start_names_the_call_and_the_tokens_subject() -> None:
    assert CODEC.decode(start()) == StreamStarted(STREAM, PID, None, token_subject=CALL_ID)


def test_start_without_client_state_has_no_subject() -> None:
    """The daemon then checks the token against the call control id, which fails closed."""
    assert CODEC.decode(start(client_state=None)).token_subject is None


def test_media_carries_its_chunk_number_for_reordering() -> None:
    assert CODEC.decode(media()) == AudioIn(AUDIO, 2)
    assert CODEC.decode(media(chunk=None, seq="9")) == AudioIn(AUDIO, 9)
    assert CODEC.decode(media(chunk="x", seq="y")) == AudioIn(AUDIO, None)


def test_outbound_track_audio_is_not_the_caller() -> None:
    assert CODEC.decode(media(track="outbound")) is None


def test_other_frames() -> None:
    assert CODEC.decode(frame(event="mark", sequence_number="4", stream_id=STREAM,
                              mark={"name": "utt-1"})) == MarkPlayed("utt-1")
    assert CODEC.decode(frame(event="dtmf", sequence_number="5", stream_id=STREAM,
                              dtmf={"digit": "#"})) == DtmfIn("#")
    assert CODEC.decode(frame(event="stop", sequence_number="6", stream_id=STREAM,
                              stop={"user_id": "u", "call_control_id": PID})) == StreamStopped()
    assert CODEC.decode(frame(event="error", sequence_number="7", stream_id=STREAM,
                              payload={"code": 100002, "title": "unknown_error"})) is None
    assert CODEC.decode(frame(event="connected", version="1.0.0")) is None
    assert CODEC.decode(frame(**{"event": "connected", "version": "1.0.0",
                                 "x-telnyx-streaming-auth-token": "tok"})) == StreamCredential(
                                     "tok")


@pytest.mark.parametrize("raw", [
    "nope", "[]", '{"event": 1}', frame(event="media", media={}),
    frame(event="media", media={"payload": "%%%"}), frame(event="start", start={}),
    frame(event="mark", mark={}), frame(event="dtmf", dtmf={"digit": ""}),
    "[" * 50_000, b"\xff"])
def test_malformed_frames_are_value_errors(raw) -> None:
    with pytest.raises(ValueError):
        CODEC.decode(raw)


def test_what_we_send() -> None:
    sent = json.loads(CODEC.encode_audio(STREAM, AUDIO))
    assert sent == {"event": "media", "media": {"payload": base64.b64encode(AUDIO).decode()}}
    assert json.loads(CODEC.encode_mark(STREAM, "m1")) == {"event": "mark",
                                                           "mark": {"name": "m1"}}
    assert json.loads(CODEC.encode_clear(STREAM)) == {"event": "clear"}
    assert CODEC.token_header == "x-telnyx-streaming-auth-token"
