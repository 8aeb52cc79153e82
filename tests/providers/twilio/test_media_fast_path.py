"""The caller-audio fast path of the Twilio media codec: Twilio's own ``media`` frames skip the
general JSON decoder, and no frame, however it is written, decodes differently because of it.

The judge is the general decoder (:func:`decode`): for every frame the codec must give the
same audio it gives, or raise ``ValueError`` exactly when it raises."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicecall_cli.providers.media_codec import AudioIn
from voicecall_cli.providers.twilio.media import Media, TwilioMediaCodec, decode, fast_media_audio

SID = "MZ0123456789abcdef0123456789abcdef"
AUDIO = bytes(range(160))


def twilio_frame(payload: str, *, sequence: str = "3", chunk: str = "2", timestamp: str = "20",
                 sid: str = SID, separators: tuple[str, str] = (",", ":")) -> str:
    """A caller ``media`` frame with Twilio's keys in Twilio's order."""
    return json.dumps({"event": "media", "sequenceNumber": sequence, "media": {
        "track": "inbound", "chunk": chunk, "timestamp": timestamp, "payload": payload},
        "streamSid": sid}, separators=separators)


def judged(frame: str | bytes) -> bytes | Exception:
    """What the general decoder makes of ``frame``: the audio, or the error."""
    try:
        event = decode(frame)
    except ValueError as exc:
        return exc
    return event.payload if isinstance(event, Media) else b"(not audio)"


def codec_result(frame: str | bytes) -> bytes | Exception:
    try:
        event = TwilioMediaCodec().decode(frame)
    except ValueError as exc:
        return exc
    return event.payload if isinstance(event, AudioIn) else b"(not audio)"


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")], ids=["twilio", "spaced"])
def test_twilio_media_frames_take_the_fast_path(separators) -> None:
    frame = twilio_frame(base64.b64encode(AUDIO).decode(), separators=separators)
    assert fast_media_audio(frame) == AUDIO
    assert TwilioMediaCodec().decode(frame) == AudioIn(AUDIO)


@pytest.mark.parametrize("frame", [
    twilio_frame("QUJD"[:3]),  # bad padding
    twilio_frame("QUJD====") ,  # too much padding
    twilio_frame("QU\\u004aD"),  # an escape: JSON would read it, the pattern does not
    twilio_frame(base64.b64encode(AUDIO).decode()) + "x",  # trailing garbage
    twilio_frame(base64.b64encode(AUDIO).decode())[:-1],  # cut short
    twilio_frame(base64.b64encode(AUDIO).decode()).encode(),  # bytes
    twilio_frame(base64.b64encode(AUDIO).decode()).replace('"media":{', '"media" :{', 1),
    twilio_frame(base64.b64encode(AUDIO).decode()).replace('"payload"', '"payload2"'),
])
def test_anything_else_is_left_to_the_general_decoder(frame) -> None:
    assert fast_media_audio(frame) is None or fast_media_audio(frame) == judged(frame)
    result, expected = codec_result(frame), judged(frame)
    assert type(result) is type(expected)
    if isinstance(expected, bytes):
        assert result == expected


_text = st.text(st.sampled_from('QUJDabc+/=09"\\ {}:,'), max_size=12)
_digits = st.text(st.sampled_from("0123456789x"), min_size=0, max_size=6)


@st.composite
def frames(draw) -> str:
    """Twilio-shaped media frames, then mutated: odd payloads and counters, other key orders,
    whitespace, extra or missing keys, and cut or padded text."""
    payload = draw(st.one_of(st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode()),
                             _text))
    media = {"track": draw(st.sampled_from(["inbound", "outbound", "in bound", ""])),
             "chunk": draw(_digits), "timestamp": draw(_digits), "payload": payload}
    message = {"event": draw(st.sampled_from(["media", "mark", "Media"])),
               "sequenceNumber": draw(_digits), "media": media,
               "streamSid": draw(st.sampled_from([SID, "", "MZ\u00e9", 'M"Z']))}
    if draw(st.booleans()):
        keys = draw(st.permutations(list(message)))
        message = {k: message[k] for k in keys}
    if draw(st.booleans()):
        message.pop(draw(st.sampled_from(list(message))))
    text = json.dumps(message, separators=draw(st.sampled_from([(",", ":"), (", ", ": "),
                                                                 (",\n", " :\t")])),
                      ensure_ascii=draw(st.booleans()))
    cut = draw(st.integers(0, 3))
    return {0: text, 1: text[:-1], 2: " " + text + " ", 3: text + "]"}[cut]


def same_meaning(frame: str) -> None:
    result, expected = codec_result(frame), judged(frame)
    assert type(result) is type(expected), frame
    if isinstance(expected, bytes):
        assert result == expected, frame


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_the_fast_path_never_changes_what_a_frame_means(frame: str) -> None:
    same_meaning(frame)


@pytest.mark.reliability
@settings(max_examples=2000, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_the_fast_path_never_changes_what_a_frame_means_long_run(frame: str) -> None:
    same_meaning(frame)
