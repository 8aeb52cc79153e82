"""What every JSON media codec promises alike (``providers/media_codec.py``'s shared readers):
a frame that is not a JSON object with an event, or is nested too deep to parse, is a
``ValueError`` the media endpoint drops, never another exception."""

from __future__ import annotations

import pytest

from voicecall_cli.providers.plivo.media import PlivoMediaCodec
from voicecall_cli.providers.telnyx.media import TelnyxMediaCodec
from voicecall_cli.providers.twilio.media import TwilioMediaCodec

CODECS = [TwilioMediaCodec(), TelnyxMediaCodec(), PlivoMediaCodec()]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.name)
@pytest.mark.parametrize("raw", ["[" * 100_000, '{"event": "media", "media": ' + "[" * 100_000,
                                 '{"a":' * 100_000, b"\xff\xfe", "[]", '{"event": 7}',
                                 '{"event": "media", "media": {"payload": "@@"}}'])
def test_unreadable_frames_are_value_errors(codec, raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        codec.decode(raw)
