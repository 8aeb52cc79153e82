"""The provider registry: every provider this build runs opens through it, as the daemon does."""

from __future__ import annotations

import pytest
import trio

from voicecall_cli.core.config import IMPLEMENTED_PROVIDERS, parse_config_text
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers import registry
from voicecall_cli.providers.base import Provider, ProviderClient

CONFIG = """\
provider = "{name}"
fromNumber = "+15550009999"
[twilio]
accountSid = "AC00000000000000000000000000000000"
authToken = "registry-test-token"
apiBaseUrl = "http://127.0.0.1:9"
[telnyx]
apiKey = "KEYregistrytest"
connectionId = "1234567890"
publicKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
apiBaseUrl = "http://127.0.0.1:9"
[plivo]
authId = "MAREGISTRYTEST000000"
authToken = "registry-test-token"
apiBaseUrl = "http://127.0.0.1:9"
"""


@pytest.mark.parametrize("name", IMPLEMENTED_PROVIDERS)
async def test_every_provider_opens_into_the_declared_shape(name: str) -> None:
    spec = registry.load(name)
    config = parse_config_text(CONFIG.format(name=name), ".toml", {})
    endpoints = DaemonEndpoints()
    with trio.fail_after(10):
        async with spec.open(config, endpoints, StreamRegistry()) as provider:
            assert isinstance(provider, Provider)
            assert provider.name == spec.name == name
            assert isinstance(provider.client, ProviderClient)
            assert provider.capabilities == spec.capabilities
            assert provider.webhooks.name == name
            # media is declared, never probed: a codec exactly when the capability says so
            assert (provider.media is not None) == spec.capabilities.media


def test_an_unknown_provider_names_the_available_ones() -> None:
    with pytest.raises(LookupError,
                       match=r"'vonage' is not available.*mock, twilio, telnyx, plivo"):
        registry.load("vonage")
