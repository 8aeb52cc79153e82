"""Telnyx media streaming over WebSockets, as a pure
:class:`~voicecall_cli.providers.media_codec.MediaCodec`.

Telnyx opens the websocket to the ``stream_url`` of the dial (or answer) and presents the
call's ``stream_auth_token`` in the ``x-telnyx-streaming-auth-token`` upgrade header (and, where
it does, in the ``connected`` frame). Its JSON text frames carry ``event`` and, after
``connected``, a top-level ``stream_id`` and ``sequence_number`` (a decimal string):

* ``start``: ``start.call_control_id``, ``start.client_state`` (our call id, which the stream
  token was minted for: see :mod:`.state`), ``start.media_format`` (PCMU, 8000 Hz, mono);
* ``media``: ``media.payload``, base64 RTP payload (mu-law, no RTP header), ``media.track``,
  ``media.chunk`` (counts media frames) and ``media.timestamp``. Frames may arrive out of order:
  :class:`~voicecall_cli.providers.media_codec.AudioIn` carries ``chunk`` (else
  ``sequence_number``) so the daemon can put them back in order;
* ``mark`` (a mark we sent, echoed once the audio before it played), ``dtmf``, ``error``
  (informational), ``stop``.

We send (bidirectional ``rtp`` mode) ``{"event":"media","media":{"payload":..}}``,
``{"event":"mark","mark":{"name":..}}`` and ``{"event":"clear"}``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from voicecall_cli.providers import media_codec as codec
from voicecall_cli.providers.telnyx.state import decode_client_state

TOKEN_HEADER = "x-telnyx-streaming-auth-token"
CLEAR_FRAME = '{"event":"clear"}'


class TelnyxMediaCodec:
    """Telnyx media-stream frames (see the module docstring)."""

    name = "telnyx"
    token_header = TOKEN_HEADER

    def decode(self, frame: str | bytes) -> codec.MediaEvent | None:
        """Raises ``ValueError`` for a frame that is not a JSON object with a string ``event``
        or whose fields have the wrong shape."""
        message = codec.json_message(frame, "Telnyx")
        event = message["event"]
        if event == "media":
            return _media(message)
        if event == "start":
            return _start(message)
        if event == "mark":
            name = codec.object_field(message, "mark").get("name")
            if not isinstance(name, str):
                raise ValueError("mark without a name")
            return codec.MarkPlayed(name)
        if event == "stop":
            return codec.StreamStopped()
        if event == "dtmf":
            digit = codec.object_field(message, "dtmf").get("digit")
            if not isinstance(digit, str) or not digit:
                raise ValueError("dtmf without a digit")
            return codec.DtmfIn(digit)
        if event == "connected":
            token = message.get(TOKEN_HEADER)
            return codec.StreamCredential(token) if isinstance(token, str) and token else None
        return None  # error frames and anything newer: nothing for the daemon to do

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        payload = base64.b64encode(mulaw).decode("ascii")
        return f'{{"event":"media","media":{{"payload":"{payload}"}}}}'

    def encode_mark(self, stream_id: str, name: str) -> str:
        return json.dumps({"event": "mark", "mark": {"name": name}}, separators=(",", ":"))

    def encode_clear(self, stream_id: str) -> str:
        return CLEAR_FRAME


def _media(message: dict[str, Any]) -> codec.AudioIn | None:
    media = codec.object_field(message, "media")
    if media.get("track", "inbound") not in ("inbound", "inbound_track"):
        return None  # our own audio echoed on a both_tracks stream: not the caller
    audio = codec.payload_audio(media)
    sequence = _counter(media.get("chunk"))
    if sequence is None:
        sequence = _counter(message.get("sequence_number"))
    return codec.AudioIn(audio, sequence)


def _start(message: dict[str, Any]) -> codec.StreamStarted:
    start = codec.object_field(message, "start")
    stream_id = message.get("stream_id") or start.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise ValueError("start without a stream_id")
    call_control_id = start.get("call_control_id")
    if call_control_id is not None and not isinstance(call_control_id, str):
        raise ValueError("start.call_control_id is not a string")
    call_id, _turn = decode_client_state(start.get("client_state"))
    return codec.StreamStarted(stream_id, call_control_id or None, token_subject=call_id)


def _counter(value: object) -> int | None:
    """Telnyx counters are decimal strings ("12"); anything else is no counter."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None
