"""The one value that says where the daemon is reachable: webhook, signed and stream URLs.

The daemon owns one :class:`DaemonEndpoints`; providers, the control API's health and the call
manager read it (providers through the read-only
:class:`~voicecall_cli.providers.base.Endpoints` view) at each use, never copying it, so a
tunnel or ``expose`` that changes the public URL at run time changes it everywhere at once.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def stream_url_for(webhook_url: str, stream_path: str) -> str:
    """``wss://<host of the webhook URL><stream path>`` (``ws://`` for an http webhook)."""
    parts = urlsplit(webhook_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, stream_path, "", ""))


class DaemonEndpoints:
    """Where providers reach the daemon.

    ``public_url`` is the configured (or, later, tunnelled) public webhook URL, None when the
    daemon is reached at its local URL. ``reconstructs`` says the public URL is read from each
    request's trusted forwarding headers instead. ``stream_path`` is the media-stream path when
    streams are on, else None.
    """

    def __init__(self, *, public_url: str | None = None, reconstructs: bool = False,
                 stream_path: str | None = None) -> None:
        self.public_url = public_url or None
        self.reconstructs = reconstructs
        self.stream_path = stream_path
        self.local_url: str | None = None  # set once the webhook server listens

    @property
    def webhook_url(self) -> str | None:
        return self.public_url or self.local_url

    @property
    def signed_url(self) -> str | None:
        if self.public_url:
            return self.public_url
        return None if self.reconstructs else self.local_url

    @property
    def stream_url(self) -> str | None:
        webhook_url = self.webhook_url
        if self.stream_path is None or webhook_url is None:
            return None
        return stream_url_for(webhook_url, self.stream_path)
