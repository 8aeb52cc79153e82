"""The ``telnyx`` provider: Call Control v2 REST, Ed25519-signed JSON webhooks, and Telnyx's
media streaming over WebSockets.

:class:`~.webhooks.TelnyxWebhookCodec` verifies (:mod:`.signature`) and parses webhooks (pure);
:class:`~.state.TelnyxState` is what the codec and the REST client (:mod:`.rest`) share;
:class:`~.media.TelnyxMediaCodec` frames the media websocket. Inbound calls must be answered
with a command (``answer_inbound``); speech without a stream is Telnyx's own ``speak`` and
``transcription_start``. ``PROVIDER`` is the plug-in spec the daemon opens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from voicecall_cli.providers.base import (
    Capabilities,
    Endpoints,
    Provider,
    ProviderConfig,
    ProviderError,
    ProviderSpec,
    Streams,
)

CAPABILITIES = Capabilities(media=True, answer_inbound=True, recording=True,
                            machine_detection=True, dtmf=True)


@asynccontextmanager
async def _open(config: ProviderConfig, endpoints: Endpoints,
                streams: Streams) -> AsyncIterator[Provider]:
    """Telnyx's state, codecs and REST client (whose HTTP client closes on exit)."""
    from voicecall_cli.providers.telnyx.media import TelnyxMediaCodec
    from voicecall_cli.providers.telnyx.rest import open_telnyx_client
    from voicecall_cli.providers.telnyx.signature import load_public_key
    from voicecall_cli.providers.telnyx.state import TelnyxState
    from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec

    key_text = config.get("telnyx.publicKey")
    try:
        public_key = load_public_key(key_text) if key_text else None
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
    state = TelnyxState()
    async with open_telnyx_client(
            api_key=config.get("telnyx.apiKey") or "",
            connection_id=config.get("telnyx.connectionId") or "",
            api_base_url=config.get("telnyx.apiBaseUrl"), state=state, endpoints=endpoints,
            streams=streams, voice=config.get("telnyx.voice"),
            language=config.get("telnyx.language"),
            ring_timeout_s=max(1, int(config.get("ringTimeoutMs")) // 1000)) as client:
        yield Provider("telnyx", client, TelnyxWebhookCodec(public_key, state), CAPABILITIES,
                       TelnyxMediaCodec())


PROVIDER = ProviderSpec("telnyx", CAPABILITIES, _open)

__all__ = ["CAPABILITIES", "PROVIDER"]
