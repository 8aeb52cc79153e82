"""The ``mock`` provider: no carrier, a simulated callee that drives the daemon's webhook path.

:class:`MockWebhookCodec` parses mock webhooks (pure); :func:`open_mock_carrier` opens the
:class:`MockCarrier` whose callee POSTs them.
"""

from voicecall_cli.providers.mock.callee import MockSettings
from voicecall_cli.providers.mock.rest import MockCarrier, open_mock_carrier
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec, encode_mock_event

__all__ = ["MockCarrier", "MockSettings", "MockWebhookCodec", "encode_mock_event",
           "open_mock_carrier"]
