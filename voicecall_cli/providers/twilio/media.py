"""Twilio Media Streams wire format: a pure codec (reference section 5.2).

Twilio sends JSON text frames whose ``event`` is ``connected``, ``start``, ``media``, ``mark``,
``stop`` and ``dtmf``. :func:`decode` turns one frame into a typed
event; the ``encode_*`` functions write the frames we send on a bidirectional stream:
``media`` (base64 mu-law 8 kHz), ``mark`` (Twilio echoes it once the audio before it has been
played) and ``clear`` (Twilio drops the audio it has buffered).

No I/O and no clock: bytes and strings in, values out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from voicecall_cli.providers import media_codec as codec


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str | None  # None when Twilio (or an impostor) leaves it out
    account_sid: str | None = None
    custom_parameters: dict[str, str] = field(default_factory=dict)
    tracks: tuple[str, ...] = ()
    media_format: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    stream_sid: str | None
    payload: bytes  # mu-law 8 kHz mono, base64-decoded
    track: str | None = None
    chunk: int | None = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Mark:
    stream_sid: str | None
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    stream_sid: str | None
    call_sid: str | None = None


@dataclass(frozen=True, slots=True)
class Dtmf:
    stream_sid: str | None
    digit: str


MediaEvent = Connected | Start | Media | Mark | Stop | Dtmf

# A caller-audio frame exactly as Twilio writes it (its keys in its order, JSON whitespace
# allowed between tokens): 50 of these a second per call, so they skip the general decoder.
# The pattern admits only valid JSON whose decode would give the same audio; anything else
# (other key orders, escapes, extra keys) takes the general path.
_W = r"[ \t\n\r]*"
_FIELD = r'{w}"{key}"{w}:{w}"{value}"{w}'
_MEDIA_FRAME = re.compile("".join((
    r"\{", _FIELD.format(w=_W, key="event", value="media"), ",",
    _FIELD.format(w=_W, key="sequenceNumber", value=r"\d{1,20}"), ",",
    _W, r'"media"', _W, ":", _W, r"\{",
    _FIELD.format(w=_W, key="track", value=r"[a-z_]{1,20}"), ",",
    _FIELD.format(w=_W, key="chunk", value=r"\d{1,20}"), ",",
    _FIELD.format(w=_W, key="timestamp", value=r"\d{1,20}"), ",",
    _FIELD.format(w=_W, key="payload", value=r"([A-Za-z0-9+/]*={0,2})"), r"\}", _W, ",",
    _FIELD.format(w=_W, key="streamSid", value=r"[A-Za-z0-9_-]{0,64}"), r"\}", _W)))


def fast_media_audio(frame: str | bytes) -> bytes | None:
    """The audio of a caller ``media`` frame in Twilio's own layout, or None when ``frame``
    is anything else (then :func:`decode` is the judge): the hot path of a stream."""
    if type(frame) is not str:
        return None
    match = _MEDIA_FRAME.fullmatch(frame)
    if match is None:
        return None
    try:
        return binascii.a2b_base64(match.group(1))
    except binascii.Error:  # bad padding: the general decoder says so
        return None


def decode(frame: str | bytes) -> MediaEvent | None:
    """One text frame from Twilio -> its event; None for an event type we do not handle.

    Raises ``ValueError`` for a frame that is not a JSON object with a string ``event``, or whose
    fields have the wrong shape (a ``start`` without ``streamSid``, a ``media`` without a base64
    payload, a ``mark`` without a name).
    """
    message = codec.json_message(frame, "Twilio")
    event = message["event"]
    stream_sid = _optional_str(message, "streamSid")
    if event == "media":
        return _media(message, stream_sid)
    if event == "start":
        return _start(message, stream_sid)
    if event == "mark":
        mark = codec.object_field(message, "mark")
        name = mark.get("name")
        if not isinstance(name, str):
            raise ValueError("mark without a name")
        return Mark(stream_sid, name)
    if event == "stop":
        return Stop(stream_sid, _optional_str(codec.object_field(message, "stop", required=False),
                                              "callSid"))
    if event == "dtmf":
        digit = codec.object_field(message, "dtmf").get("digit")
        if not isinstance(digit, str):
            raise ValueError("dtmf without a digit")
        return Dtmf(stream_sid, digit)
    if event == "connected":
        return Connected(_optional_str(message, "protocol"), _optional_str(message, "version"))
    return None


def encode_media(stream_sid: str, mulaw: bytes) -> str:
    """An outbound ``media`` frame carrying ``mulaw`` (normally one 160-byte frame)."""
    payload = base64.b64encode(mulaw).decode("ascii")
    sid = json.dumps(stream_sid)
    return f'{{"event":"media","streamSid":{sid},"media":{{"payload":"{payload}"}}}}'


def encode_mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}},
                      separators=(",", ":"))


def encode_clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid}, separators=(",", ":"))


def _media(message: dict[str, Any], stream_sid: str | None) -> Media:
    media = codec.object_field(message, "media")
    return Media(stream_sid, codec.payload_audio(media), _optional_str(media, "track"),
                 _optional_int(media, "chunk"), _optional_int(media, "timestamp"))


def _start(message: dict[str, Any], stream_sid: str | None) -> Start:
    start = codec.object_field(message, "start")
    stream_sid = stream_sid or _optional_str(start, "streamSid")
    if not stream_sid:
        raise ValueError("start without a streamSid")
    params = start.get("customParameters")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise ValueError("start.customParameters is not an object")
    tracks = start.get("tracks") or []
    media_format = start.get("mediaFormat") or {}
    return Start(
        stream_sid=stream_sid,
        call_sid=_optional_str(start, "callSid") or None,
        account_sid=_optional_str(start, "accountSid"),
        custom_parameters={str(k): v for k, v in params.items() if isinstance(v, str)},
        tracks=tuple(t for t in tracks if isinstance(t, str)) if isinstance(tracks, list) else (),
        media_format=media_format if isinstance(media_format, dict) else {},
    )


def _optional_str(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{key} is not a string")
    return value


def _optional_int(message: dict[str, Any], key: str) -> int | None:
    """Twilio sends counters as decimal strings ("chunk": "2"); a bad one is just dropped."""
    value = message.get(key)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class TwilioMediaCodec:
    """Twilio Media Streams as a :class:`~voicecall_cli.providers.media_codec.MediaCodec`.

    The stream id is the ``streamSid``, the provider call id the ``CallSid``, and the stream
    token travels in ``start.customParameters.token``."""

    name = "twilio"
    token_header = None

    def decode(self, frame: str | bytes) -> codec.MediaEvent | None:
        audio = fast_media_audio(frame)
        if audio is not None:
            return codec.AudioIn(audio)
        event = decode(frame)
        if isinstance(event, Media):
            return codec.AudioIn(event.payload)
        if isinstance(event, Mark):
            return codec.MarkPlayed(event.name)
        if isinstance(event, Start):
            return codec.StreamStarted(event.stream_sid, event.call_sid,
                                       event.custom_parameters.get("token"))
        if isinstance(event, Stop):
            return codec.StreamStopped()
        if isinstance(event, Dtmf):
            return codec.DtmfIn(event.digit)
        return None

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        return encode_media(stream_id, mulaw)

    def encode_mark(self, stream_id: str, name: str) -> str:
        return encode_mark(stream_id, name)

    def encode_clear(self, stream_id: str) -> str:
        return encode_clear(stream_id)
