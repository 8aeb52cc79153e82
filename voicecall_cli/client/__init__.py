"""The control-API client shared by the CLI and the MCP server (stdlib only on import).

:class:`ControlClient` speaks HTTP/1.1 over the daemon's Unix socket (:mod:`.unix_http`) in
JSON; :class:`.calls.CallsApi` gives its call operations typed answers (the protocol's views;
import it from :mod:`.calls`: building the view classes costs the CLI's hot path ~10 ms). Their
failures are :class:`~voicecall_cli.protocol.ApiError` with the protocol's stable codes.
"""

from voicecall_cli.client.control import (
    DEFAULT_TIMEOUT_S,
    EVENT_STREAM_TIMEOUT_S,
    ControlClient,
)

__all__ = ["DEFAULT_TIMEOUT_S", "EVENT_STREAM_TIMEOUT_S", "ControlClient"]
