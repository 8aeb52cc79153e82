"""Where a carrier simulator may deliver a webhook: loopback only, or through a tunnel stand-in.

A loopback URL (``localhost``, ``127.0.0.0/8``, ``::1``) is delivered as it is. A URL on another
host is delivered only when the ``forward`` map sends its origin (``https://voice.example.com``)
to a loopback origin (``http://127.0.0.1:8443``), as a tunnel would: to the loopback origin with
the same path and query, carrying the public host in ``Host`` and ``X-Forwarded-Host`` plus
``X-Forwarded-Proto``. Any other URL is refused: nothing leaves the machine. How the webhook is
signed and sent (and what a refusal is recorded as) is the carrier's.

Plain functions of their arguments: no I/O, no resources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin(url: str) -> str:
    """``scheme://netloc`` of ``url``, lower-cased (how ``forward`` keys are matched)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class WebhookRouter:
    """Routes webhook URLs per a ``forward`` map (public origin -> loopback origin).

    Raises ``ValueError`` at construction when a forward target is not a loopback origin.
    """

    def __init__(self, forward: Mapping[str, str] | None = None) -> None:
        self._forward = {public.rstrip("/").lower(): target.rstrip("/")
                         for public, target in (forward or {}).items()}
        for target in self._forward.values():
            if not is_loopback_host(urlsplit(target).hostname):
                raise ValueError(f"forward target must be a loopback origin: {target}")

    def route(self, url: str) -> tuple[str | None, dict[str, str]]:
        """Where to deliver ``url`` and which tunnel headers to add (None: refuse)."""
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and is_loopback_host(parts.hostname):
            return url, {}
        target_origin = self._forward.get(origin(url))
        if target_origin is None:
            return None, {}
        target = urlsplit(target_origin)
        delivered = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))
        return delivered, {"host": parts.netloc, "x-forwarded-host": parts.netloc,
                           "x-forwarded-proto": parts.scheme}
