"""The ``twilio`` provider: Programmable Voice webhooks and TwiML (and, beside them, REST calls
and Media Streams).

:class:`TwilioWebhookCodec` verifies and parses webhooks (pure); :class:`TwilioState` is what the
adapter remembers per call, shared by the codec, the REST client and the media streams;
:mod:`.twiml` builds the TwiML documents; :func:`polly_voice` picks the ``<Say>`` voice.
"""

from voicecall_cli.providers.twilio.state import TwilioState
from voicecall_cli.providers.twilio.voices import polly_voice
from voicecall_cli.providers.twilio.webhooks import TwilioWebhookCodec

__all__ = ["TwilioState", "TwilioWebhookCodec", "polly_voice"]
