"""The ``mock`` provider: no carrier, a simulated callee that drives the daemon's webhook path.

:class:`MockWebhookCodec` parses mock webhooks (pure); :func:`open_mock_client` opens the
:class:`MockClient` whose callee POSTs them. ``PROVIDER`` is the plug-in spec the daemon opens.
"""

from __future__ import annotations

import time
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
from voicecall_cli.providers.mock.callee import MockSettings
from voicecall_cli.providers.mock.rest import MockClient, open_mock_client
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec, encode_mock_event

CAPABILITIES = Capabilities(recording=True, machine_detection=True, dtmf=True)


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@asynccontextmanager
async def _open(config: ProviderConfig, endpoints: Endpoints,
                streams: Streams) -> AsyncIterator[Provider]:
    async with open_mock_client(config.get("mock") or {}, endpoints=endpoints,
                                 clock_ms=_wall_clock_ms) as client:
        yield Provider("mock", client, MockWebhookCodec(), CAPABILITIES)


PROVIDER = ProviderSpec("mock", CAPABILITIES, _open)

__all__ = ["PROVIDER", "MockClient", "MockSettings", "MockWebhookCodec", "encode_mock_event",
           "open_mock_client"]
