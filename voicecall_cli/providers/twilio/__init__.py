"""The ``twilio`` provider: Programmable Voice REST, signed webhooks answered with TwiML, and
the Media Streams framing.

:class:`TwilioWebhookCodec` verifies and parses webhooks (pure); :class:`TwilioState` is what
the provider remembers per call, shared by the codec and the REST client
(:mod:`.rest`); :mod:`.twiml` builds the TwiML documents; :class:`~.media.TwilioMediaCodec`
frames Media Streams; :func:`polly_voice` picks the ``<Say>`` voice. ``PROVIDER`` is the
plug-in spec the daemon opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from voicecall_cli.providers.base import (
    Capabilities,
    Endpoints,
    Provider,
    ProviderConfig,
    ProviderSpec,
    Streams,
)
from voicecall_cli.providers.signatures import WebhookSecurity, ngrok_loopback_bypass_effective
from voicecall_cli.providers.twilio.state import TwilioState
from voicecall_cli.providers.twilio.voices import polly_voice
from voicecall_cli.providers.twilio.webhooks import TwilioWebhookCodec

CAPABILITIES = Capabilities(native_notify=True, speak_and_listen=True, media=True,
                            recording=True, machine_detection=True, dtmf=True)


@asynccontextmanager
async def _open(config: ProviderConfig, endpoints: Endpoints,
                streams: Streams) -> AsyncIterator[Provider]:
    """Twilio's state, webhook codec, media codec and REST client (whose HTTP client closes
    on exit)."""
    from voicecall_cli.providers.twilio.media import TwilioMediaCodec
    from voicecall_cli.providers.twilio.rest import open_twilio_client

    state = TwilioState()
    voice = polly_voice(config.get("tts.openai.voice"))
    auth_token = config.get("twilio.authToken")
    webhooks = TwilioWebhookCodec(
        auth_token, state, endpoints=endpoints, streams=streams,
        security=WebhookSecurity.from_config(config),
        ngrok_loopback_bypass=ngrok_loopback_bypass_effective(
            allowed=bool(config.get("tunnel.allowNgrokFreeTierLoopbackBypass")),
            tunnel_provider=config.get("tunnel.provider"), bind=config.serve_bind),
        voice=voice)
    async with open_twilio_client(
            account_sid=config.get("twilio.accountSid"), auth_token=auth_token,
            api_base_url=config.get("twilio.apiBaseUrl"), state=state, endpoints=endpoints,
            voice=voice, ring_timeout_s=max(1, int(config.get("ringTimeoutMs")) // 1000)
            ) as client:
        yield Provider("twilio", client, webhooks, CAPABILITIES, TwilioMediaCodec())


PROVIDER = ProviderSpec("twilio", CAPABILITIES, _open)

__all__ = ["PROVIDER", "TwilioState", "TwilioWebhookCodec", "polly_voice"]
