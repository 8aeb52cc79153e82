"""``voicecall.dtmf``: touch tones sent on a call.

The call must be live and its provider declare the ``dtmf`` capability (else
``operation_failed`` saying so, never a silent no-op); a call that still rings is waited for,
as ``speak`` waits; the provider client plays the keys; once the carrier accepted them a
``call.dtmf`` event ``{digits, direction: "out"}`` is stored. A carrier failure is
``operation_failed`` and the call goes on. Runs in the requester's task (a client that goes
away cancels it). What the caller presses is :mod:`.keys`'.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.operations import ANSWER_WAIT_MARGIN_S, connected_call
from voicecall_cli.protocol import ApiError, DtmfRequest, ErrorCode
from voicecall_cli.protocol import events as ev
from voicecall_cli.protocol.views import SuccessResult

log = logging.getLogger("voicecall.calls")


async def send(m: CallManager, req: DtmfRequest) -> dict[str, Any]:
    """``voicecall.dtmf`` (module docstring)."""
    call = connected_call(m, req.callId)
    if not m.provider.capabilities.dtmf:
        raise ApiError(ErrorCode.OPERATION_FAILED,
                       f"the {m.provider.name} provider cannot send touch tones")
    if call.answered_at is None:
        answer_wait_s = m.settings.ring_timeout_ms / 1000 + ANSWER_WAIT_MARGIN_S
        with trio.move_on_after(answer_wait_s):
            await m.wait_until_answered(call)
        if call.answered_at is None and not call.is_terminal:
            raise ApiError(ErrorCode.TIMEOUT, f"Call not answered within {answer_wait_s:g}s")
    if call.is_terminal or not call.provider_call_id:
        raise ApiError(ErrorCode.OPERATION_FAILED, f"Call ended: {call.end_reason}")
    m.keys.playing(call.call_id, req.digits)
    try:
        await m.client.send_dtmf(call.call_id, call.provider_call_id, req.digits)
    except Exception as exc:
        m.keys.not_playing(call.call_id)
        raise ApiError(ErrorCode.OPERATION_FAILED,
                       f"sending touch tones failed: {exc}") from None
    log.info("touch tones sent on call %s", call.call_id)
    m.publish(call, ev.CALL_DTMF, {"digits": req.digits, "direction": "out"})
    return SuccessResult(success=True).to_json()
