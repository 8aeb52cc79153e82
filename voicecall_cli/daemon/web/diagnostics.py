"""What the webhook server remembers for ``voicecall doctor``: the last rejected webhook, and
the probes ``doctor`` sends to itself through the public URL.

:class:`WebhookDiagnostics` is owned by the daemon and shared by the webhook pipeline (which
notes rejections and answers verified probes) and the dispatcher (which answers probes of the
stream path). It holds a few strings, never a body, a secret or a query value: URLs are kept
with their query values replaced by ``…``.

A probe is a request carrying ``X-Voicecall-Probe: <nonce>`` for a nonce that ``doctor`` is
probing with (:meth:`WebhookDiagnostics.probing`). On the webhook path it is answered only
after its signature is verified, and then without parsing or events; a probe that is rejected
is remembered like any rejected webhook, with its nonce, so ``doctor`` can tell "reached us but
the signature failed" from "never reached us".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PROBE_HEADER = "x-voicecall-probe"
PROBE_REPLY = b"voicecall probe ok"
MAX_PROBES = 16
_QUERY_VALUE = re.compile(r"([?&][^=&\s#]+)=([^&\s#]*)")


def redact_url(url: str) -> str:
    """``url`` with every query value (and user info) replaced: query strings carry numbers
    and call ids; nothing else of a webhook URL is private."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _QUERY_VALUE.sub(r"\1=…", url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(f"{pair.split('=', 1)[0]}=…" for pair in parts.query.split("&") if pair)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact_text(text: str) -> str:
    """Query values inside a free-text reason (``Invalid signature for URL: ...?a=1``)."""
    return _QUERY_VALUE.sub(r"\1=…", text)


@dataclass(frozen=True, slots=True)
class RejectedWebhook:
    """One rejected webhook, as ``doctor`` shows it (every URL redacted).

    ``requested_url``: the URL the request itself names (forwarded proto and host when a proxy
    set them, else the ``Host`` header): what the carrier most likely called and signed.
    ``verified_url``: the URL the signature was checked against, when the provider signs URLs.
    """

    at_ms: int
    reason: str
    requested_url: str
    verified_url: str | None
    remote_addr: str | None
    forwarded: dict[str, str]
    probe: str | None  # the probe nonce when this was one of doctor's probes

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {"atMs": data["at_ms"], "reason": data["reason"],
                "requestedUrl": data["requested_url"], "verifiedUrl": data["verified_url"],
                "remoteAddr": data["remote_addr"], "forwarded": data["forwarded"],
                "probe": data["probe"] is not None}


class WebhookDiagnostics:
    """The webhook server's memory for ``doctor`` (see the module doc)."""

    def __init__(self) -> None:
        self.last_rejected: RejectedWebhook | None = None  # the newest, doctor's probes included
        self.last_foreign: RejectedWebhook | None = None  # the newest that was not a probe
        self.foreign_count = 0  # rejections that were not doctor's probes
        self._probes: dict[str, set[str]] = {}  # nonce -> paths where it arrived answered

    # -------------------------------------------------------------- probes

    @contextmanager
    def probing(self) -> Iterator[str]:
        """A fresh nonce for one probe, known to the server until the block ends; the oldest
        is forgotten past :data:`MAX_PROBES`."""
        nonce = secrets.token_urlsafe(18)
        self._probes[nonce] = set()
        while len(self._probes) > MAX_PROBES:
            del self._probes[next(iter(self._probes))]
        try:
            yield nonce
        finally:
            self._probes.pop(nonce, None)

    def probe_nonce(self, headers: dict[str, str]) -> str | None:
        """The request's probe nonce when it is one of ours, else None."""
        nonce = headers.get(PROBE_HEADER)
        return nonce if nonce is not None and nonce in self._probes else None

    def answer_probe(self, nonce: str, path: str) -> bool:
        """Note that a probe reached ``path`` and is answered; False (nothing noted) when
        ``nonce`` is not one doctor is probing with."""
        paths = self._probes.get(nonce)
        if paths is None:
            return False
        paths.add(path)
        return True

    def probe_answered(self, nonce: str, path: str) -> bool:
        return path in self._probes.get(nonce, ())

    # -------------------------------------------------------------- rejections

    def note_rejection(self, *, at_ms: int, reason: str, url: str, path: str,
                       headers: dict[str, str], verified_url: str | None,
                       remote_addr: str | None) -> None:
        """Remember a webhook rejected for its signature (or missing signature headers)."""
        forwarded = {name: headers[name] for name in (
            "host", "x-forwarded-proto", "x-forwarded-host", "x-original-host",
            "ngrok-forwarded-host", "x-forwarded-port") if name in headers}
        rejected = RejectedWebhook(
            at_ms=at_ms, reason=redact_text(reason)[:300],
            requested_url=redact_url(_requested_url(url, path, headers)),
            verified_url=redact_url(verified_url) if verified_url else None,
            remote_addr=remote_addr, forwarded={k: v[:200] for k, v in forwarded.items()},
            probe=self.probe_nonce(headers))
        self.last_rejected = rejected
        if rejected.probe is None:
            self.last_foreign = rejected
            self.foreign_count += 1


def _requested_url(url: str, path: str, headers: dict[str, str]) -> str:
    """The URL as the request's own headers describe it (forwarding headers believed, since
    this is only shown to the user, never used to verify anything)."""
    parts = urlsplit(url)
    proto = headers.get("x-forwarded-proto", "").split(",")[0].strip() or "https"
    host = (headers.get("x-forwarded-host") or headers.get("x-original-host")
            or headers.get("ngrok-forwarded-host") or headers.get("host") or parts.netloc)
    return urlunsplit((proto, host.split(",")[0].strip(), path, parts.query, ""))
