"""``voicecall.latency``: the measured turns of recent calls, read from the event store.

Reads only (the store's ``call.latency`` and ``call.turn`` events, newest first, bounded by the
request's ``last``); the figures are :func:`voicecall_cli.protocol.latency.latency_result`'s.
A store that cannot be read raises its ``StoreError`` (the control server answers it as
``store_unavailable``).
"""

from __future__ import annotations

from typing import Any

from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.operations import resolve_call_id
from voicecall_cli.protocol import ApiError, ErrorCode, LatencyRequest
from voicecall_cli.protocol.events import CALL_LATENCY, CALL_TURN
from voicecall_cli.protocol.latency import latency_result
from voicecall_cli.protocol.messages import LATENCY_LAST_DEFAULT


def latency(m: CallManager, req: LatencyRequest) -> dict[str, Any]:
    """The newest ``req.last`` turns (of ``req.callId``'s call when given: an id, a unique
    prefix or the carrier's call id) and their summary; ``call_not_found`` for a call id that
    names no call, live or stored."""
    call_id = None
    if req.callId is not None:
        call_id = _call_id(m, resolve_call_id(m, req.callId))
        if call_id is None:
            raise ApiError(ErrorCode.CALL_NOT_FOUND, f"Call not found: {req.callId}")
    events = m.store.latest_events((CALL_LATENCY, CALL_TURN), call_id,
                                   req.last or LATENCY_LAST_DEFAULT)
    return latency_result(events)


def _call_id(m: CallManager, given: str) -> str | None:
    call = m.find(given)
    if call is not None:
        return call.call_id
    stored = m.store.get_call(given) or m.store.find_call_by_provider_id(given)
    return str(stored["callId"]) if stored is not None else None
