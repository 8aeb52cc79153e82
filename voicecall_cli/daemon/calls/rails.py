"""The outbound rails applied to every ``voicecall.initiate``, whoever sends it (CLI, API, MCP).

:func:`admit` runs, in this order, after the request is parsed and its defaults applied:

1. idempotency replay: a key stored within 24 h answers with its first call's id
   (``replayed: true``) and nothing else runs, so a retry of a placed call is never refused
   by a rate limit it itself filled; the same key for a different request is a ``conflict``;
2. the rails of :func:`voicecall_cli.core.rails.outbound_refusal` (``allowTo``,
   ``quietHours``, the per-hour limits counted from the store's journal): a refusal publishes
   ``call.refused`` (no call id) and raises ``refused`` with the ``rail``;
3. confirmation (``mcp.requireConfirmation``, requests with ``origin: "mcp"`` only): without a
   token the answer is a preview and a new token; with one, the token is checked.

The caller (``operations.initiate``) then checks the concurrency limit and, with no ``await``
in between, calls :meth:`Admission.place` and begins the journal entry with
:attr:`Admission.idempotency`, which stores the key in the same transaction.

Everything here is synchronous: no ``await`` between the replay lookup and the journal
entry, so two concurrent requests with one key cannot both dial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicecall_cli.core.rails import (
    HOUR_MS,
    Refusal,
    outbound_refusal,
    request_fingerprint,
)
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.protocol import ApiError, ErrorCode, InitiateRequest
from voicecall_cli.protocol import events as ev
from voicecall_cli.protocol.views import CallPreview, InitiateResult


@dataclass(frozen=True, slots=True)
class Admission:
    """What :func:`admit` decided. ``answer``: the response when nothing is to be dialled
    (a replay, a preview); else the call may be placed."""

    manager: CallManager
    answer: dict[str, Any] | None = None
    idempotency: tuple[str, str] | None = None  # (key, fingerprint) for journal_begin
    confirm_token: str | None = None

    def place(self) -> None:
        """The call is being placed now: consume its confirmation token, if it has one."""
        if self.confirm_token is not None:
            self.manager.confirmations.consume(self.confirm_token)


def admit(m: CallManager, req: InitiateRequest, to: str, from_number: str,
          mode: str) -> Admission:
    """Apply the replay lookup, the rails and the confirmation step (module docstring)."""
    now = m.now_ms()
    fingerprint = request_fingerprint(to, from_number, mode, req.message, req.objective,
                                      req.record or None)
    key = req.idempotencyKey
    if key is not None:
        first = m.store.idempotency_get(key, now)
        if first is not None:
            if first.fingerprint != fingerprint:
                raise ApiError(ErrorCode.CONFLICT,
                               f"idempotency key {key!r} was used for a different call "
                               f"({first.call_id}); use a new key for a new call")
            return Admission(m, InitiateResult(initiated=True, callId=first.call_id,
                                               replayed=True).to_json())
    refusal = _refusal(m, to, now)
    if refusal is not None:
        m.publish(None, ev.CALL_REFUSED, {"rail": refusal.rail, "to": to,
                                          "reason": refusal.reason,
                                          "origin": req.origin or "api"})
        raise ApiError(ErrorCode.REFUSED, refusal.reason, {"rail": refusal.rail})
    idempotency = (key, fingerprint) if key is not None else None
    if not (m.settings.rails.require_confirmation and req.origin == "mcp"):
        return Admission(m, idempotency=idempotency)
    if req.confirmToken is None:
        token, expires_at = m.confirmations.issue(fingerprint, now)
        return Admission(m, InitiateResult(
            initiated=False, confirmationRequired=True, confirmToken=token,
            expiresAt=expires_at,
            preview=CallPreview(to=to, from_=from_number, mode=mode, message=req.message,
                                objective=req.objective, record=req.record or None),
        ).to_json())
    m.confirmations.check(req.confirmToken, fingerprint, now)
    return Admission(m, idempotency=idempotency, confirm_token=req.confirmToken)


def _refusal(m: CallManager, to: str, now: int) -> Refusal | None:
    rails = m.settings.rails
    since = now - HOUR_MS
    recent = (m.store.outbound_dials_since(since)
              if rails.max_calls_per_hour is not None else ())
    recent_to = (m.store.outbound_dials_since(since, to)
                 if rails.max_calls_per_hour_per_number is not None else ())
    return outbound_refusal(rails, to, now, recent=recent, recent_to=recent_to)
