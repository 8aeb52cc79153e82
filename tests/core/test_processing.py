"""Event processing decisions (reference 2.4), on plain records with times passed in."""

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.core.processing import (
    DEFAULT_GREETING,
    Waiter,
    admit_unknown_call,
    apply_event,
)
from voicecall_cli.core.states import CallState


def call(state: CallState = CallState.RINGING) -> CallRecord:
    return CallRecord("c1", "mock", "outbound", state, "+15550000000", "+15550001111", 1000,
                      provider_call_id="mock-c1")


def ev(kind: EventType, **kw) -> NormalizedEvent:
    return NormalizedEvent(type=kind, id=kw.pop("id", f"e-{kind}"), call_id="c1",
                           timestamp=kw.pop("timestamp", 5000), **kw)


def test_answered_sets_answered_at_and_asks_for_timer_and_greeting() -> None:
    c = call()
    out = apply_event(c, ev(EventType.ANSWERED), None, 6000)
    assert c.state is CallState.ANSWERED and c.answered_at == 5000
    assert out.answered and out.state_changed
    assert c.processed_event_ids == ["e-call.answered"]


def test_backwards_event_changes_nothing() -> None:
    c = call(CallState.ANSWERED)
    out = apply_event(c, ev(EventType.RINGING), None, 6000)
    assert c.state is CallState.ANSWERED and not out.state_changed


def test_final_speech_resolves_waiter_and_records_transcript() -> None:
    c = call(CallState.LISTENING)
    out = apply_event(c, ev(EventType.SPEECH, transcript="yes", turn_token="t1"),
                      Waiter("t1"), 6000)
    assert out.resolve_waiter_with == "yes"
    assert [(t.speaker, t.text) for t in c.transcript] == [("user", "yes")]


def test_mismatched_turn_token_is_ignored_entirely() -> None:
    c = call(CallState.SPEAKING)
    out = apply_event(c, ev(EventType.SPEECH, transcript="old", turn_token="stale"),
                      Waiter("t2"), 6000)
    assert out.token_mismatch and out.resolve_waiter_with is None
    assert c.transcript == [] and c.state is CallState.SPEAKING


def test_partial_speech_only_moves_to_listening() -> None:
    c = call(CallState.SPEAKING)
    out = apply_event(c, ev(EventType.SPEECH, transcript="ye", is_final=False), Waiter(None),
                      6000)
    assert c.state is CallState.LISTENING and c.transcript == []
    assert out.resolve_waiter_with is None


def test_ended_finalizes_with_reason_and_time() -> None:
    c = call(CallState.LISTENING)
    out = apply_event(c, ev(EventType.ENDED, reason="hangup-user", timestamp=7000), None, 8000)
    assert c.state is CallState.HANGUP_USER and c.end_reason == "hangup-user"
    assert c.ended_at == 7000 and out.ended_reason == "hangup-user"


def test_unknown_end_reason_becomes_completed() -> None:
    c = call()
    apply_event(c, ev(EventType.ENDED, reason="weird"), None, 8000)
    assert c.state is CallState.COMPLETED


def test_error_events() -> None:
    c = call(CallState.ACTIVE)
    out = apply_event(c, ev(EventType.ERROR, error="boom", retryable=True), None, 8000)
    assert c.state is CallState.ACTIVE and out.error_message is None
    out = apply_event(c, ev(EventType.ERROR, id="e2", error="boom"), None, 8000)
    assert c.state is CallState.ERROR and out.error_message == "boom"


def test_events_after_the_end_change_nothing() -> None:
    c = call(CallState.COMPLETED)
    out = apply_event(c, ev(EventType.SPEECH, transcript="late"), Waiter(None), 8000)
    assert c.transcript == [] and out.resolve_waiter_with is None


def admit(policy: str, caller: str | None, direction: str = "inbound", allow=("+15550001234",)):
    event = NormalizedEvent(type=EventType.INITIATED, id="i", call_id="CA1", timestamp=1,
                            provider_call_id="CA1", direction=direction, from_number=caller,
                            to_number="+15559990000")
    return admit_unknown_call(event, provider="mock", policy=policy, allow_from=list(allow),
                              from_number="+15559990000", greeting=None, now_ms=42)


def test_inbound_admission_follows_policy() -> None:
    assert admit("disabled", "+15550001234").action == "reject"
    assert admit("allowlist", "anonymous").action == "reject"
    accepted = admit("allowlist", "+1 555 000 1234")
    assert accepted.action == "create"
    rec = accepted.record
    assert rec.direction == "inbound" and rec.state is CallState.RINGING
    assert rec.metadata["initialMessage"] == DEFAULT_GREETING and rec.started_at == 42


def test_outbound_events_for_unknown_calls_register_without_policy() -> None:
    assert admit("disabled", None, direction="outbound").action == "create"


def test_events_without_provider_id_or_direction_are_dropped() -> None:
    event = NormalizedEvent(type=EventType.RINGING, id="x", call_id="zz", timestamp=1)
    assert admit_unknown_call(event, provider="mock", policy="open", allow_from=[],
                              from_number=None, greeting=None, now_ms=1).action == "drop"
