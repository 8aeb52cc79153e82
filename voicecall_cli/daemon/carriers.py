"""Opening the configured carrier: its REST (or simulated) client and its webhook codec.

:func:`open_carrier` is an async context manager: the client it yields owns an HTTP client
(and, for ``mock``, the simulated callee's tasks) and is closed on exit. Once the webhook
server listens, :meth:`Carrier.bind_webhook_url` tells the carrier the URL it will be given for
webhooks: with no ``publicUrl`` configured (and no forwarding-header trust to reconstruct it),
that URL is also the one Twilio signs, so signatures are checked against it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.providers.base import CarrierClient, WebhookCodec

AVAILABLE = ("mock", "twilio")


@dataclass
class Carrier:
    client: CarrierClient
    codec: WebhookCodec
    twilio_state: Any = None  # TwilioState when the carrier is Twilio

    def bind_webhook_url(self, webhook_url: str, *, configured_public_url: str | None,
                         reconstructs_url: bool) -> None:
        if self.twilio_state is not None and not configured_public_url and not reconstructs_url:
            self.codec.use_public_url(webhook_url)  # type: ignore[attr-defined]


@asynccontextmanager
async def open_carrier(config: Any, clock: WallClock) -> AsyncIterator[Carrier]:
    if config.provider == "mock":
        from voicecall_cli.providers.mock import MockWebhookCodec, open_mock_carrier

        async with open_mock_carrier(config.mock, clock_ms=clock.now_ms) as client:
            yield Carrier(client, MockWebhookCodec())
        return
    if config.provider == "twilio":
        async with _open_twilio(config) as carrier:
            yield carrier
        return
    raise RuntimeError(f"provider {config.provider!r} is not available in this build yet")


def webhook_security(config: Any) -> Any:
    from voicecall_cli.providers.signatures import WebhookSecurity

    return WebhookSecurity(
        allowed_hosts=tuple(config.get("webhookSecurity.allowedHosts") or ()),
        trust_forwarding_headers=bool(config.get("webhookSecurity.trustForwardingHeaders")),
        trusted_proxy_ips=tuple(config.get("webhookSecurity.trustedProxyIPs") or ()))


def reconstructs_public_url(config: Any) -> bool:
    """True when forwarded headers may name the public host (a trusted reverse proxy)."""
    security = webhook_security(config)
    return bool((security.allowed_hosts or security.trust_forwarding_headers)
                and security.trusted_proxy_ips)


@asynccontextmanager
async def _open_twilio(config: Any) -> AsyncIterator[Carrier]:
    from voicecall_cli.providers.signatures import ngrok_loopback_bypass_effective
    from voicecall_cli.providers.twilio import TwilioState, TwilioWebhookCodec, polly_voice
    from voicecall_cli.providers.twilio.rest import open_twilio_client

    state = TwilioState(max_inbound_streams=int(config.get("streaming.maxInboundStreams")))
    voice = polly_voice(config.get("tts.openai.voice"))
    auth_token = config.get("twilio.authToken")
    codec = TwilioWebhookCodec(
        auth_token, state, public_url=config.get("publicUrl"), security=webhook_security(config),
        ngrok_loopback_bypass=ngrok_loopback_bypass_effective(
            allowed=bool(config.get("tunnel.allowNgrokFreeTierLoopbackBypass")),
            tunnel_provider=config.get("tunnel.provider"), bind=config.serve_bind),
        voice=voice)
    async with open_twilio_client(
            account_sid=config.get("twilio.accountSid"), auth_token=auth_token,
            api_base_url=config.get("twilio.apiBaseUrl"), state=state, voice=voice,
            ring_timeout_s=max(1, int(config.get("ringTimeoutMs")) // 1000)) as client:
        yield Carrier(client, codec, twilio_state=state)
