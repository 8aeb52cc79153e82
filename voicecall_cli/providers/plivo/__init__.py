"""The ``plivo`` provider: the Voice API, V3-signed webhooks answered with Plivo XML, and
Plivo's bidirectional audio streams.

:class:`~.webhooks.PlivoWebhookCodec` verifies (:mod:`.signature`, the plivo SDK's V3 and V2
signatures) and parses webhooks and serves the XML (:mod:`.xml`, built with ``plivoxml``);
:class:`~.state.PlivoState` is what the codec and the REST client (:mod:`.rest`) share;
:class:`~.media.PlivoMediaCodec` frames the audio stream. Speech without a stream is Plivo's own
``<Speak>`` and ``<GetInput>``, reached by transferring the call to our XML. ``PROVIDER`` is
the plug-in spec the daemon opens.
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

CAPABILITIES = Capabilities(native_notify=True, speak_and_listen=True, media=True,
                            recording=True, machine_detection=True, dtmf=True)


@asynccontextmanager
async def _open(config: ProviderConfig, endpoints: Endpoints,
                streams: Streams) -> AsyncIterator[Provider]:
    """Plivo's state, codecs and REST client (whose HTTP client closes on exit)."""
    from voicecall_cli.providers.plivo.media import PlivoMediaCodec
    from voicecall_cli.providers.plivo.rest import open_plivo_client
    from voicecall_cli.providers.plivo.state import PlivoState
    from voicecall_cli.providers.plivo.webhooks import PlivoWebhookCodec
    from voicecall_cli.providers.signatures import WebhookSecurity

    state = PlivoState()
    auth_token = config.get("plivo.authToken") or ""
    voice, language = config.get("plivo.voice"), config.get("plivo.language")
    webhooks = PlivoWebhookCodec(auth_token, state, endpoints=endpoints, streams=streams,
                                 security=WebhookSecurity.from_config(config), voice=voice,
                                 language=language)
    async with open_plivo_client(
            auth_id=config.get("plivo.authId") or "", auth_token=auth_token,
            api_base_url=config.get("plivo.apiBaseUrl"), state=state, endpoints=endpoints,
            voice=voice, language=language,
            ring_timeout_s=max(1, int(config.get("ringTimeoutMs")) // 1000),
            record_time_limit_s=int(config.get("maxDurationSeconds"))) as client:
        yield Provider("plivo", client, webhooks, CAPABILITIES, PlivoMediaCodec())


PROVIDER = ProviderSpec("plivo", CAPABILITIES, _open)

__all__ = ["CAPABILITIES", "PROVIDER"]
