"""Confirmation tokens of ``mcp.requireConfirmation``: an agent's first ``initiate`` gets a
preview and a token; only the same request again with that token places the call.

A token is random (``secrets.token_urlsafe``), bound to one request fingerprint, valid for
:data:`CONFIRM_TTL_MS` and usable once. Tokens live in this process's memory only: a daemon
restart forgets them (the agent asks again). The table is bounded: expired tokens are dropped
whenever one is issued, and beyond :data:`MAX_TOKENS` the oldest go. A used token is kept until
it expires, so a second use is told "already used" (``conflict``), not "unknown".

Owned by the :class:`~voicecall_cli.daemon.calls.manager.CallManager` (one per daemon);
called synchronously from the trio thread, so check-then-consume needs no lock as long as no
``await`` comes between them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from voicecall_cli.core.rails import RAIL_CONFIRMATION
from voicecall_cli.protocol import ApiError, ErrorCode

CONFIRM_TTL_MS = 5 * 60 * 1000
MAX_TOKENS = 1000
ASK_AGAIN = "send the request again without confirmToken for a new preview and token"


@dataclass(slots=True)
class _Issued:
    fingerprint: str
    expires_at: int
    used: bool = False


class ConfirmationTokens:
    """Tokens issued by this daemon, by token."""

    def __init__(self, *, ttl_ms: int = CONFIRM_TTL_MS, max_tokens: int = MAX_TOKENS,
                 new_token: Callable[[], str] = lambda: secrets.token_urlsafe(24)) -> None:
        self._ttl_ms = ttl_ms
        self._max = max_tokens
        self._new_token = new_token
        self._issued: dict[str, _Issued] = {}  # insertion order: oldest first

    def __len__(self) -> int:
        return len(self._issued)

    def issue(self, fingerprint: str, now_ms: int) -> tuple[str, int]:
        """A new token for the request ``fingerprint``, and when it expires (epoch ms)."""
        for token in [t for t, issued in self._issued.items() if issued.expires_at <= now_ms]:
            del self._issued[token]
        while len(self._issued) >= self._max:
            del self._issued[next(iter(self._issued))]
        token = self._new_token()
        expires_at = now_ms + self._ttl_ms
        self._issued[token] = _Issued(fingerprint, expires_at)
        return token, expires_at

    def check(self, token: str, fingerprint: str, now_ms: int) -> None:
        """Raise unless ``token`` may place the request ``fingerprint`` now: ``conflict`` when
        it was used already, ``bad_request`` (rail ``mcp.requireConfirmation``) when it is
        unknown (another daemon, a restart), expired or issued for a different request."""
        issued = self._issued.get(token)
        details = {"rail": RAIL_CONFIRMATION}
        if issued is None or issued.expires_at <= now_ms:
            raise ApiError(ErrorCode.BAD_REQUEST,
                           f"confirmToken is unknown or expired; {ASK_AGAIN}", details)
        if issued.used:
            raise ApiError(ErrorCode.CONFLICT,
                           "confirmToken was already used: that call was placed; "
                           f"to place another, {ASK_AGAIN}", details)
        if issued.fingerprint != fingerprint:
            raise ApiError(ErrorCode.BAD_REQUEST,
                           "confirmToken was issued for a different call (to, from, mode and "
                           f"message must be exactly as previewed); {ASK_AGAIN}", details)

    def consume(self, token: str) -> None:
        """Mark a checked token used (it stays known until it expires)."""
        self._issued[token].used = True
