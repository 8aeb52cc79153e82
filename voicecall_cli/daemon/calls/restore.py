"""Bringing live calls back after a restart (reference 3.2, with the 'L' rules).

For every call the store still holds as live: no provider call id (the daemon died mid-dial) ->
ended ``failed``, never dialled again; older than ``maxDurationSeconds`` -> hung up,
``timeout``; the provider says it ended (its normalised status) -> ended with its end reason;
otherwise (live, unknown, or the provider could not be asked) it is restored, and an answered
call's max-duration timer gets only its remaining time. Runs inside the call manager's nursery
before the daemon reports ready.

A call that had not been answered when the daemon died (``initiated``, ``ringing``) must
progress or end, on every carrier, even though the reports that would have moved it may have
been lost while the daemon was down:

- the carrier cannot say what became of it (``unknown``, or it could not be asked): it is
  hung up (best effort) and ended ``error``, with the reason in ``restoreOutcome`` and a
  ``call.error`` event;
- the carrier says it is still live: it is kept, with a ring deadline at ``ringTimeoutMs``
  after it started (at once if that has passed). Answered by then, nothing happens; otherwise
  the carrier is asked again: ended there -> ended with its reason; else hung up,
  ``no-answer``. Its answer webhook, when it comes, moves it on as for any call.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.calls.greeting import start_max_duration_timer
from voicecall_cli.protocol import events as ev
from voicecall_cli.providers.base import ProviderCallStatus

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.restore")
RING_DEADLINE = "restored-ring-deadline"
PRE_ANSWER = frozenset({CallState.INITIATED, CallState.RINGING})

async def _ask_provider(m: CallManager, call: CallRecord,
                       answers: dict[str, ProviderCallStatus | None]) -> None:
    assert call.provider_call_id is not None
    try:
        with trio.fail_after(10):
            answers[call.call_id] = await m.client.get_call_status(call.provider_call_id)
    except Exception as exc:
        log.info("provider status unavailable for a restored call: %s", exc)
        answers[call.call_id] = None


async def restore_calls(m: CallManager) -> list[CallRecord]:
    """Restore the store's live calls into ``m``; returns the calls kept."""
    now = m.now_ms()
    for row in m.store.journal_unfinished():
        m.store.journal_failed(row["callId"], "daemon stopped while dialling")
    candidates = [CallRecord.from_dict(d) for d in m.store.load_active_calls()]
    max_ms = int(m.settings.max_duration_s * 1000)
    to_ask: list[CallRecord] = []
    for call in candidates:
        if not call.provider_call_id:
            _end_restored(m, call, CallState.FAILED.value, "no providerCallId")
        elif now - call.started_at > max_ms:
            await _hang_up_expired(m, call)
        else:
            to_ask.append(call)
    answers: dict[str, ProviderCallStatus | None] = {}
    async with trio.open_nursery() as nursery:
        for call in to_ask:
            nursery.start_soon(_ask_provider, m, call, answers)
    kept: list[CallRecord] = []
    for call in to_ask:
        answer = answers.get(call.call_id)
        if answer is not None and answer.is_terminal:
            _end_restored(m, call, answer.end_reason or "completed",
                          f"provider status {answer.raw or answer.end_reason}")
            continue
        if call.answered_at is not None and now - call.answered_at >= max_ms:
            await _hang_up_expired(m, call)
            continue
        if _before_answer(call) and (answer is None or answer.state != "live"):
            await _end_unanswered(m, call, "the daemon restarted before the call was answered "
                                  "and the carrier could not say what became of it")
            continue
        m.register(call)
        start_max_duration_timer(m, call)
        if _before_answer(call):
            deadline = max(call.started_at + m.settings.ring_timeout_ms, now)
            m.start_timer(call.call_id, RING_DEADLINE, deadline, partial(_ring_deadline, m))
        m.publish(call, ev.CALL_RESTORED, {"state": call.state.value})
        kept.append(call)
    if candidates:
        log.info("restored %d of %d live call(s)", len(kept), len(candidates))
    return kept


def _end_restored(m: CallManager, call: CallRecord, reason: str, why: str) -> None:
    call.metadata["restoreOutcome"] = why
    m.register(call)
    m.end_locally(call, reason)


async def _hang_up_expired(m: CallManager, call: CallRecord) -> None:
    m.register(call)
    try:
        with trio.fail_after(10):
            await m.hang_up(call, CallState.TIMEOUT.value)
    except Exception as exc:
        log.warning("hang-up of an expired restored call failed: %s", exc)
        m.end_locally(call, CallState.TIMEOUT.value)


def _before_answer(call: CallRecord) -> bool:
    return call.answered_at is None and call.state in PRE_ANSWER


async def _end_unanswered(m: CallManager, call: CallRecord, why: str,
                          reason: str = CallState.ERROR.value) -> None:
    """End a restored call that never got answered: hang it up at the carrier (best effort:
    it may still ring there), then end it ``reason``, saying ``why`` in ``restoreOutcome``
    and a ``call.error`` event."""
    call.metadata["restoreOutcome"] = why
    m.register(call)
    m.publish(call, ev.CALL_ERROR, {"message": why})
    try:
        with trio.fail_after(10):
            await m.hang_up(call, reason)
    except Exception as exc:
        log.warning("hang-up of restored call %s failed: %s", call.call_id, exc)
        m.end_locally(call, reason)


async def _ring_deadline(m: CallManager, call: CallRecord) -> None:
    """A restored call still not answered at its ring deadline: ask the carrier once more,
    then end it (its reason, or ``no-answer``). Never raises into the manager's nursery."""
    if call.answered_at is not None or call.is_terminal:
        return
    try:
        answers: dict[str, ProviderCallStatus | None] = {}
        await _ask_provider(m, call, answers)
        answer = answers.get(call.call_id)
        if call.answered_at is not None or call.is_terminal:
            return
        if answer is not None and answer.is_terminal:
            _end_restored(m, call, answer.end_reason or "completed",
                          f"provider status {answer.raw or answer.end_reason}")
            return
        await _end_unanswered(m, call, "not answered within ringTimeoutMs after the daemon "
                              "restarted", CallState.NO_ANSWER.value)
    except Exception:
        log.exception("ending restored call %s at its ring deadline failed", call.call_id)
