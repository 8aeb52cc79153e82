"""Delivering a URL hook: one signed POST of the call's JSON per attempt.

Each attempt is bounded by the hook's timeout as a whole (connect, send, answer); its
signature is made at the attempt (a fresh ``t``), over the same body; redirects are not
followed (a 3xx is a failure). :func:`post_once` never raises for what the network or the
receiver does: it returns an :class:`Attempt` whose ``error`` is built here from the failure's
kind, never from the URL (which may hold a token) or the secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import trio

from voicecall_cli import __version__
from voicecall_cli.core.hooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    is_loopback_host,
    retryable_status,
    scrub,
    signature_header,
)


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: ``error`` None means delivered (2xx); ``retryable`` says
    whether another attempt may help (network error, timeout, 5xx, 429)."""

    error: str | None
    retryable: bool = False
    retry_after: str | None = None


async def post_once(url: str, body: bytes, *, secret: str, delivery_id: str, now_s: int,
                    timeout_ms: int) -> Attempt:
    """POST ``body`` to ``url`` once, signed with ``secret`` at ``now_s``."""
    headers = {
        "content-type": "application/json",
        "user-agent": f"voicecall/{__version__}",
        SIGNATURE_HEADER: signature_header(secret, now_s, body),
        DELIVERY_HEADER: delivery_id,
    }
    loopback = is_loopback_host(httpx.URL(url).host)
    timeout_s = timeout_ms / 1000
    try:
        with trio.move_on_after(timeout_s) as scope:
            async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=False,
                                         trust_env=not loopback) as client:
                response = await client.post(url, content=body, headers=headers)
                await response.aclose()
    except httpx.TimeoutException:
        return Attempt(f"timed out after {timeout_ms} ms", retryable=True)
    except httpx.HTTPError as exc:
        reason = scrub(str(exc), secret, url) or type(exc).__name__
        return Attempt(f"{type(exc).__name__}: {reason}"[:300], retryable=True)
    if scope.cancelled_caught:
        return Attempt(f"timed out after {timeout_ms} ms", retryable=True)
    status = response.status_code
    if 200 <= status <= 299:
        return Attempt(None)
    return Attempt(f"HTTP {status}", retryable=retryable_status(status),
                   retry_after=response.headers.get("retry-after"))
