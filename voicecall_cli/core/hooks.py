"""The post-call hook's pure rules: what ``hooks.onCallEnded`` names, how a URL delivery is
signed, which answers are retried and how long to wait between attempts.

``hooks.onCallEnded`` is either a command line or a URL:

* ``https://...`` (or ``http://`` to a loopback address: ``127.0.0.0/8``, ``::1``,
  ``localhost``; for tests and local receivers) is a URL: the ended call is POSTed to it.
* anything else is a command line, split like a POSIX shell would (``shlex.split``: quotes and
  backslashes work) and run WITHOUT a shell: no pipes, redirections, ``~`` or ``$VAR``; write a
  script for those.

The signature is Stripe-like: ``X-Voicecall-Signature: t=<unix seconds>,v1=<hex>`` where
``hex = HMAC-SHA256(secret, "<t>.<body>")``; a receiver recomputes it over the raw body and
compares in constant time (and may refuse a ``t`` too far from its clock).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Voicecall-Signature"
DELIVERY_HEADER = "X-Voicecall-Delivery"
KIND_COMMAND = "command"
KIND_URL = "url"
DEFAULT_TIMEOUT_MS = 10_000
DEFAULT_RETRIES = 3
BACKOFF_FIRST_S = 0.5  # then doubled for each further attempt
BACKOFF_MAX_S = 30.0  # also caps a server's Retry-After


class HookTargetError(ValueError):
    """``hooks.onCallEnded`` names nothing runnable; the message says why (never the value)."""


@dataclass(frozen=True, slots=True)
class HookTarget:
    """What ``hooks.onCallEnded`` names: ``kind`` command (``argv``) or url (``url``)."""

    kind: str
    argv: tuple[str, ...] = ()
    url: str = ""


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP address (IPv4 ``127.0.0.0/8``, IPv6 ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_target(value: str) -> HookTarget:
    """The target ``value`` names; raises :class:`HookTargetError` when it is unusable."""
    text = value.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(text)
            host = parts.hostname
        except ValueError:
            host = None
        if not host:
            raise HookTargetError("must be an https:// URL with a host, or a command line")
        if scheme == "http" and not is_loopback_host(host):
            raise HookTargetError("a plain http:// URL is allowed only to a loopback address "
                                  "(127.0.0.1, ::1, localhost); use https://")
        return HookTarget(KIND_URL, url=text)
    if "://" in text:
        raise HookTargetError("a URL must be https:// (or http:// to a loopback address)")
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise HookTargetError(f"is not a valid command line ({exc}); it is split like a "
                              "shell would, without running one") from None
    if not argv:
        raise HookTargetError("names no command")
    return HookTarget(KIND_COMMAND, argv=argv)


def is_plain_http(target: HookTarget) -> bool:
    return target.kind == KIND_URL and target.url.lower().startswith("http:")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Voicecall-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """What a receiver does (the README shows the same): recompute and compare."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), fields.get("v1", ""))


def retryable_status(status: int) -> bool:
    """An HTTP answer worth another attempt: 429 or any 5xx."""
    return status == 429 or 500 <= status <= 599


def backoff_s(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): 0.5, 1, 2, 4 ... capped at
    :data:`BACKOFF_MAX_S`; a server's ``Retry-After`` seconds win when longer (capped too)."""
    wait = min(BACKOFF_FIRST_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
    if retry_after is not None:
        try:
            asked = float(retry_after.strip())
        except ValueError:
            asked = 0.0
        if asked == asked and asked > wait:  # (NaN compares false)
            wait = min(asked, BACKOFF_MAX_S)
    return wait


def scrub(text: str, *secrets: str | None) -> str:
    """``text`` with every (non-trivial) secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
