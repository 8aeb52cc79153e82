"""Call states and the one transition rule (reference section 2.2).

Non-terminal states advance in order ``initiated -> ringing -> answered -> active ->
speaking <-> listening``; any terminal state may be entered from any non-terminal one; terminal
states are absorbing; backwards moves are ignored.
"""

from __future__ import annotations

from enum import StrEnum


class CallState(StrEnum):
    INITIATED = "initiated"
    RINGING = "ringing"
    ANSWERED = "answered"
    ACTIVE = "active"
    SPEAKING = "speaking"
    LISTENING = "listening"
    COMPLETED = "completed"
    HANGUP_USER = "hangup-user"
    HANGUP_BOT = "hangup-bot"
    TIMEOUT = "timeout"
    ERROR = "error"
    FAILED = "failed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


NON_TERMINAL_ORDER: tuple[CallState, ...] = (
    CallState.INITIATED,
    CallState.RINGING,
    CallState.ANSWERED,
    CallState.ACTIVE,
    CallState.SPEAKING,
    CallState.LISTENING,
)
TERMINAL_STATES: frozenset[CallState] = frozenset(set(CallState) - set(NON_TERMINAL_ORDER))
# An end reason is exactly a terminal state.
END_REASONS = TERMINAL_STATES
_RANK = {state: i for i, state in enumerate(NON_TERMINAL_ORDER)}
_TALKING = frozenset({CallState.SPEAKING, CallState.LISTENING})


def transition(current: CallState, target: CallState) -> CallState | None:
    """The state a call moves to when asked for ``target``, or None when it stays put."""
    if target == current or current.is_terminal:
        return None
    if target.is_terminal:
        return target
    if current in _TALKING and target in _TALKING:
        return target
    if _RANK[target] > _RANK[current]:
        return target
    return None
