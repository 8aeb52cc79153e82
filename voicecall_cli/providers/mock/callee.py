"""The simulated callee's script: what the mock carrier's callee does next. Pure, no I/O.

:class:`MockSettings` reads the config's ``mock`` block. :func:`placement_script` says what the
callee's phone does after a call is placed (ring, then answer or end with the configured
outcome). :class:`CalleeState` is one call as the callee sees it; :meth:`CalleeState.take_reply`
decides the next spoken reply and whether the callee hangs up after it. The I/O shell that
sleeps and POSTs lives in :mod:`.rest`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voicecall_cli.core.events import EventType
from voicecall_cli.providers.base import ProviderCallStatus

OUTCOME_END_REASONS = {"busy": "busy", "no-answer": "no-answer", "failed": "failed"}
OUTCOMES = ("answer", *OUTCOME_END_REASONS)
ANSWERED_BY = ("human", "machine")
DEFAULT_REPLIES = ("Hello, this is the mock callee.", "Yes, that works for me.",
                   "Thank you, goodbye.")
_STALE_MARKERS = ("stale", "ended", "completed")
# A reply written "dtmf:<keys>" (e.g. "dtmf:42#") is pressed on the phone's keypad, not said.
KEYPRESS_PREFIX = "dtmf:"


def keypress(reply: str) -> str | None:
    """The keys a scripted reply presses (None: the reply is spoken)."""
    return reply[len(KEYPRESS_PREFIX):] if reply.startswith(KEYPRESS_PREFIX) else None


@dataclass(frozen=True, slots=True)
class MockSettings:
    ring_delay_ms: int = 200
    answer_delay_ms: int = 400
    outcome: str = "answer"
    replies: tuple[str, ...] = DEFAULT_REPLIES
    reply_delay_ms: int = 300
    hangup_after_replies: int | None = None
    hangup_after_ms: int | None = None
    answered_by: str = "human"  # who picks up, as answering-machine detection reports it
    greeting_ms: int = 1500  # a machine's greeting, from its detection to its beep

    @classmethod
    def from_config(cls, settings: Mapping[str, Any]) -> MockSettings:
        """Settings from the camelCase ``mock`` block; missing keys take the defaults.

        Raises ``ValueError`` naming the key (``mock.<key>``) for a value of the wrong kind.
        """
        defaults = cls()
        outcome = settings.get("outcome", defaults.outcome)
        if outcome not in OUTCOMES:
            raise ValueError(f"mock.outcome must be one of {', '.join(OUTCOMES)}")
        replies = settings.get("replies", defaults.replies)
        if isinstance(replies, str) or not all(isinstance(r, str) for r in replies):
            raise ValueError("mock.replies must be a list of strings")
        answered_by = settings.get("answeredBy", defaults.answered_by)
        if answered_by not in ANSWERED_BY:
            raise ValueError(f"mock.answeredBy must be one of {', '.join(ANSWERED_BY)}")
        after_replies = _optional_ms(settings, "hangupAfterReplies")
        if after_replies == 0:
            raise ValueError("mock.hangupAfterReplies must be at least 1")
        return cls(
            ring_delay_ms=_ms(settings, "ringDelayMs", defaults.ring_delay_ms),
            answer_delay_ms=_ms(settings, "answerDelayMs", defaults.answer_delay_ms),
            outcome=outcome,
            replies=tuple(replies),
            reply_delay_ms=_ms(settings, "replyDelayMs", defaults.reply_delay_ms),
            hangup_after_replies=after_replies,
            hangup_after_ms=_optional_ms(settings, "hangupAfterMs"),
            answered_by=answered_by,
            greeting_ms=_ms(settings, "greetingMs", defaults.greeting_ms),
        )


def _ms(settings: Mapping[str, Any], key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"mock.{key} must be a non-negative integer")
    return value


def _optional_ms(settings: Mapping[str, Any], key: str) -> int | None:
    return None if settings.get(key) is None else _ms(settings, key, 0)


@dataclass(frozen=True, slots=True)
class CalleeStep:
    """Wait ``delay_ms``, then report ``event_type`` (with ``reason`` for ``call.ended``)."""

    delay_ms: int
    event_type: EventType
    reason: str | None = None


def placement_script(settings: MockSettings) -> list[CalleeStep]:
    """The callee's phone after a call is placed: ring, then answer or end per the outcome."""
    ringing = CalleeStep(settings.ring_delay_ms, EventType.RINGING)
    if settings.outcome == "answer":
        return [ringing, CalleeStep(settings.answer_delay_ms, EventType.ANSWERED)]
    reason = OUTCOME_END_REASONS[settings.outcome]
    return [ringing, CalleeStep(settings.answer_delay_ms, EventType.ENDED, reason)]


@dataclass(frozen=True, slots=True)
class DetectionStep:
    """Wait ``delay_ms``, then report ``call.answered_by`` (``greeting_ended``: the beep)."""

    delay_ms: int
    answered_by: str
    greeting_ended: bool = False


def detection_script(settings: MockSettings, machine_detection: str) -> list[DetectionStep]:
    """What answering-machine detection reports once the callee answered: nothing when it is
    off; the result at once; for a machine in ``voicemail`` mode, its beep ``greetingMs``
    later."""
    if machine_detection == "off":
        return []
    steps = [DetectionStep(0, settings.answered_by)]
    if settings.answered_by == "machine" and machine_detection == "voicemail":
        steps.append(DetectionStep(settings.greeting_ms, "machine", greeting_ended=True))
    return steps


@dataclass(frozen=True, slots=True)
class PlannedReply:
    text: str
    hang_up_after: bool  # the callee hangs up reply_delay_ms after this reply was delivered


@dataclass(slots=True)
class CalleeState:
    """One call as the simulated callee knows it, keyed by provider call id."""

    call_id: str
    provider_call_id: str
    replies_given: int = 0
    ended_reason: str | None = None  # set once the call ended (either side hung up)
    played: list[str] = field(default_factory=list)
    machine_detection: str = "off"  # what the call was placed with
    greeting_playing: bool = False  # a machine's greeting plays (before its beep)
    heard_over_greeting: list[str] = field(default_factory=list)  # spoken before the beep
    heard_keys: list[str] = field(default_factory=list)  # touch tones the daemon sent

    @property
    def ended(self) -> bool:
        return self.ended_reason is not None

    def take_reply(self, settings: MockSettings) -> PlannedReply | None:
        """The next reply (round-robin over ``settings.replies``), or None when silent."""
        limit = settings.hangup_after_replies
        exhausted = limit is not None and self.replies_given >= limit
        if self.ended or exhausted or not settings.replies:
            return None
        text = settings.replies[self.replies_given % len(settings.replies)]
        self.replies_given += 1
        return PlannedReply(text, hang_up_after=limit is not None and self.replies_given >= limit)

    def status(self) -> ProviderCallStatus:
        """What the carrier says about this call (reference 3.2 for ids that look stale)."""
        lowered = self.provider_call_id.lower()
        if any(marker in lowered for marker in _STALE_MARKERS):
            return ProviderCallStatus("ended", "completed", raw="completed")
        if self.ended_reason is not None:
            reason = OUTCOME_END_REASONS.get(self.ended_reason, "completed")
            return ProviderCallStatus("ended", reason, raw=self.ended_reason)
        return ProviderCallStatus("live", raw="in-progress")


def call_id_from_provider_id(provider_call_id: str) -> str:
    """Our call id for a mock provider id ``mock-<callId>`` (else the provider id itself)."""
    return provider_call_id.removeprefix("mock-") or provider_call_id
