"""What a carrier event does to a call (reference section 2.4), as pure decisions.

The call manager resolves an event to a call (or asks :func:`admit_unknown_call` what to do
when none matches), then calls :func:`apply_event`, which mutates the record and returns an
:class:`Outcome` listing what the manager must carry out: timers, waiters, hooks, persistence.
Nothing here does I/O or reads a clock; ``now_ms`` is passed in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from voicecall_cli.core.call import CallRecord, TranscriptEntry
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.core.policy import inbound_allowed
from voicecall_cli.core.states import END_REASONS, CallState, transition

DEFAULT_GREETING = "Hello! How can I help you today?"
# Who answering-machine detection says answered (``CallRecord.answered_by``).
ANSWERED_BY = ("human", "machine", "fax", "unknown")

_STATE_EVENTS = {
    EventType.INITIATED: CallState.INITIATED,
    EventType.RINGING: CallState.RINGING,
    EventType.ACTIVE: CallState.ACTIVE,
    EventType.SPEAKING: CallState.SPEAKING,
}


@dataclass(slots=True)
class Waiter:
    """The one pending ``continue`` turn of a call, as the pure layer sees it. ``accept``:
    what answers it (``speech``, ``dtmf`` or ``both``)."""

    turn_token: str | None
    accept: str = "speech"


@dataclass(slots=True)
class Outcome:
    previous_state: CallState
    state_changed: bool = False
    answered: bool = False  # (re)start the max-duration timer, speak the initial message
    user_transcript: TranscriptEntry | None = None  # a final caller utterance was accepted
    resolve_waiter_with: str | None = None
    dtmf_digits: str | None = None  # keys the caller pressed (the waiter's, if it takes dtmf)
    token_mismatch: bool = False
    ended_reason: str | None = None  # the call reached a terminal state
    error_message: str | None = None  # non-retryable carrier error (the waiter fails with it)
    # answering-machine detection reported (call.answered_by): publish it when it changed
    answered_by_changed: bool = False
    # an outbound conversation call reached a machine: hang up, end reason ``voicemail``
    end_as_voicemail: bool = False
    notes: list[str] = field(default_factory=list)


def set_state(call: CallRecord, target: CallState) -> bool:
    """Apply the transition rule; True when the state changed."""
    new = transition(call.state, target)
    if new is None:
        return False
    call.state = new
    return True


def finalize(call: CallRecord, reason: str, now_ms: int) -> bool:
    """End the call with ``reason`` (an end reason); False if it had already ended."""
    if call.is_terminal:
        return False
    target = CallState(reason) if reason in END_REASONS else CallState.ERROR
    call.ended_at = now_ms
    call.end_reason = target.value
    set_state(call, target)
    return True


def apply_event(call: CallRecord, event: NormalizedEvent, waiter: Waiter | None,
                now_ms: int) -> Outcome:
    """Apply one deduplicated event to its call (steps 5-7 of reference 2.4)."""
    out = Outcome(previous_state=call.state)
    call.remember_key(event.key)
    if call.is_terminal:
        out.notes.append("call already ended")
        return out
    kind = event.type
    if kind in _STATE_EVENTS:
        out.state_changed = set_state(call, _STATE_EVENTS[kind])
    elif kind is EventType.ANSWERED:
        call.answered_at = call.answered_at or event.timestamp
        out.state_changed = set_state(call, CallState.ANSWERED)
        out.answered = True
    elif kind is EventType.SPEECH:
        if event.is_final:
            if (waiter is not None and waiter.turn_token and event.turn_token
                    and waiter.turn_token != event.turn_token):
                out.token_mismatch = True
                return out
            entry = TranscriptEntry(event.timestamp, "user", event.transcript, True)
            call.transcript.append(entry)
            out.user_transcript = entry
            if waiter is not None and waiter.accept != "dtmf":
                out.resolve_waiter_with = event.transcript
        out.state_changed = set_state(call, CallState.LISTENING)
    elif kind is EventType.ANSWERED_BY:
        result = event.answered_by if event.answered_by in ANSWERED_BY else "unknown"
        out.answered_by_changed = call.answered_by != result
        call.answered_by = result
        out.end_as_voicemail = (result == "machine" and call.direction == "outbound"
                                and call.mode == "conversation"
                                and bool(call.metadata.get("machineDetection")))
    elif kind is EventType.DTMF:
        # Always reported; an older turn's keys (another token) never answer this turn.
        out.dtmf_digits = event.digits or None
        out.token_mismatch = bool(waiter is not None and waiter.turn_token and event.turn_token
                                  and waiter.turn_token != event.turn_token)
    elif kind is EventType.ENDED:
        reason = event.reason if event.reason in END_REASONS else CallState.COMPLETED.value
        out.state_changed = finalize(call, reason, event.timestamp or now_ms)
        out.ended_reason = call.end_reason
    elif kind is EventType.ERROR:
        if event.retryable:
            out.notes.append("retryable carrier error")
        else:
            out.error_message = event.error
            out.state_changed = finalize(call, CallState.ERROR.value, now_ms)
            out.ended_reason = call.end_reason
    return out


@dataclass(frozen=True, slots=True)
class Admission:
    """What to do with an event for a call we do not know."""

    action: str  # "create" | "reject" | "drop"
    record: CallRecord | None = None


def admit_unknown_call(event: NormalizedEvent, *, provider: str, policy: str,
                       allow_from: list[str], from_number: str | None, greeting: str | None,
                       now_ms: int) -> Admission:
    """Step 3 of reference 2.4: register a new inbound/outbound call, reject it, or drop."""
    if not event.provider_call_id or not event.direction:
        return Admission("drop")
    if event.direction == "inbound" and not inbound_allowed(policy, allow_from,
                                                            event.from_number):
        return Admission("reject")
    metadata: dict[str, object] = {}
    if event.direction == "inbound":
        metadata["initialMessage"] = greeting or DEFAULT_GREETING
    record = CallRecord(
        call_id=str(uuid.uuid4()),
        provider=provider,
        direction="inbound" if event.direction == "inbound" else "outbound",
        state=CallState.RINGING,
        from_number=event.from_number or "unknown",
        to_number=event.to_number or from_number or "unknown",
        started_at=now_ms,
        provider_call_id=event.provider_call_id,
        metadata=metadata,
    )
    return Admission("create", record)
