"""Plivo's bidirectional audio streams, as a pure
:class:`~voicecall_cli.providers.media_codec.MediaCodec`.

Plivo opens the websocket named by the ``<Stream>`` element's text and sends JSON text frames:

* ``start``: ``start.callId`` (the CallUUID), ``start.streamId``, ``start.mediaFormat`` and, at
  the top level, ``extra_headers``: the element's ``extraHeaders`` string, which carries the
  stream token (``token=<hex>``: Plivo allows only alphanumerics there, so the daemon's
  base64url token travels hex-encoded, see :func:`token_for_xml`);
* ``media``: ``media.payload`` (base64 mu-law, 8 kHz, asked for with ``contentType``),
  ``media.track``, ``media.chunk``, ``media.timestamp``;
* ``dtmf`` (``dtmf.digit``), ``playedStream`` (a checkpoint we sent has played: ``name``),
  ``clearedAudio`` (our ``clearAudio`` was done). Plivo sends no ``stop`` frame: the stream ends
  when the socket closes (or, out of band, with the StopStream status callback); a ``stop``
  frame is still understood.

We send ``playAudio`` (``media.contentType`` ``audio/x-mulaw``, ``sampleRate`` 8000, base64
``payload``), ``checkpoint`` (``streamId``, ``name``: Plivo answers ``playedStream`` once the
audio before it has played, our marks) and ``clearAudio`` (``streamId``).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from voicecall_cli.providers import media_codec as codec

_HEADER_PAIR = re.compile(r"\s*([A-Za-z0-9_-]+)\s*[=:]\s*\"?([^,;\"]*)\"?\s*")
_HEX = re.compile(r"[0-9a-f]+")


def token_for_xml(token: str) -> str:
    """The daemon's stream token (base64url, unpadded) as lower-case hex: Plivo's
    ``extraHeaders`` values must be alphanumeric."""
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).hex()


def token_from_xml(value: str) -> str | None:
    """The inverse of :func:`token_for_xml`; None for a value that is not such hex."""
    value = value.strip().lower()
    if not value or len(value) % 2 or len(value) > 256 or not _HEX.fullmatch(value):
        return None
    return base64.urlsafe_b64encode(bytes.fromhex(value)).decode().rstrip("=")


def extra_headers(value: object) -> dict[str, str]:
    """Plivo's ``extra_headers``: ``k=v`` pairs separated by ``;`` or ``,`` (as the
    ``extraHeaders`` attribute was written), or a JSON object; {} for anything else."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if isinstance(v, str)}
    if not isinstance(value, str) or not value.strip():
        return {}
    text = value.strip()
    if text.startswith("{"):
        try:
            return extra_headers(json.loads(text))
        except (ValueError, RecursionError):
            return {}
    pairs: dict[str, str] = {}
    for part in re.split(r"[;,]", text):
        match = _HEADER_PAIR.fullmatch(part)
        if match:
            pairs[match.group(1)] = match.group(2).strip()
    return pairs


class PlivoMediaCodec:
    """Plivo audio-stream frames (see the module docstring)."""

    name = "plivo"
    token_header = None

    def decode(self, frame: str | bytes) -> codec.MediaEvent | None:
        """Raises ``ValueError`` for a frame that is not a JSON object with a string
        ``event`` or whose fields have the wrong shape."""
        message = codec.json_message(frame, "Plivo")
        event = message["event"]
        if event == "media":
            return _media(message)
        if event == "playedStream":
            name = message.get("name")
            if not isinstance(name, str):
                raise ValueError("playedStream without a name")
            return codec.MarkPlayed(name)
        if event == "start":
            return _start(message)
        if event == "dtmf":
            digit = codec.object_field(message, "dtmf").get("digit")
            if not isinstance(digit, str) or not digit:
                raise ValueError("dtmf without a digit")
            return codec.DtmfIn(digit)
        if event == "stop":
            return codec.StreamStopped()
        return None  # clearedAudio and anything newer: nothing for the daemon to do

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        payload = base64.b64encode(mulaw).decode("ascii")
        return ('{"event":"playAudio","media":{"contentType":"audio/x-mulaw",'
                f'"sampleRate":8000,"payload":"{payload}"}}}}')

    def encode_mark(self, stream_id: str, name: str) -> str:
        return json.dumps({"event": "checkpoint", "streamId": stream_id, "name": name},
                          separators=(",", ":"))

    def encode_clear(self, stream_id: str) -> str:
        return json.dumps({"event": "clearAudio", "streamId": stream_id},
                          separators=(",", ":"))


def _media(message: dict[str, Any]) -> codec.AudioIn | None:
    media = codec.object_field(message, "media")
    if media.get("track", "inbound") != "inbound":
        return None  # our own audio on a both-tracks stream: not the caller
    return codec.AudioIn(codec.payload_audio(media))


def _start(message: dict[str, Any]) -> codec.StreamStarted:
    start = codec.object_field(message, "start")
    stream_id = start.get("streamId") or message.get("streamId")
    if not isinstance(stream_id, str) or not stream_id:
        raise ValueError("start without a streamId")
    call_uuid = start.get("callId")
    if call_uuid is not None and not isinstance(call_uuid, str):
        raise ValueError("start.callId is not a string")
    presented = extra_headers(message.get("extra_headers")).get("token")
    token = token_from_xml(presented) if presented else None
    return codec.StreamStarted(stream_id, call_uuid or None, token)
