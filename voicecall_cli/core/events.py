"""Carrier events normalised by the provider codecs (reference section 2.3).

A codec turns a verified webhook (or media-stream message) into :class:`NormalizedEvent` values;
the call manager consumes them. ``call_id`` is our internal id when the carrier echoes it back,
otherwise the carrier's id; ``dedupe_key`` comes from the verified request so a replay of the same
delivery is recognised.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    INITIATED = "call.initiated"
    RINGING = "call.ringing"
    ANSWERED = "call.answered"
    ACTIVE = "call.active"
    SPEAKING = "call.speaking"
    SPEECH = "call.speech"
    SILENCE = "call.silence"
    DTMF = "call.dtmf"
    ANSWERED_BY = "call.answered_by"  # answering-machine detection's result
    ENDED = "call.ended"
    ERROR = "call.error"
    RECORDING = "call.recording"  # the carrier saved the call's recording (may follow the end)


@dataclass(slots=True)
class NormalizedEvent:
    type: EventType
    id: str
    call_id: str
    timestamp: int  # epoch ms
    dedupe_key: str | None = None
    provider_call_id: str | None = None
    turn_token: str | None = None
    direction: str | None = None  # "inbound" | "outbound"
    from_number: str | None = None
    to_number: str | None = None
    text: str = ""  # call.speaking
    transcript: str = ""  # call.speech
    is_final: bool = True  # call.speech
    confidence: float | None = None  # call.speech
    duration_ms: int = 0  # call.silence
    digits: str = ""  # call.dtmf
    # call.answered_by: who answered (human|machine|fax|unknown); greeting_ended: a machine's
    # greeting is over (its beep, or the silence after it), so a voicemail may be left now.
    answered_by: str = "unknown"
    greeting_ended: bool = False
    # call.dtmf: the carrier collected these keys as a whole answer (a Gather/GetInput result),
    # not one key as it was pressed
    keys_complete: bool = False
    reason: str = "completed"  # call.ended: an end reason
    error: str = "unknown error"  # call.error
    retryable: bool = False  # call.error
    recording_url: str = ""  # call.recording
    recording_duration_s: int | None = None  # call.recording (None: the carrier did not say)

    @property
    def key(self) -> str:
        """The idempotency key: the verified request's key, else the event id."""
        return self.dedupe_key or self.id
