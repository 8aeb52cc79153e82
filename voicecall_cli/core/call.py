"""The call record: what the daemon knows about one call, persisted as JSON (reference 2.1).

The record is a plain mutable value owned by the call manager. :meth:`to_dict` is the stored
form (with the internal :attr:`processed_event_ids`); :meth:`to_view` is what the control API
shows, the protocol's :class:`~voicecall_cli.protocol.views.CallView`, whose JSON is the stored
form without the internal keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voicecall_cli.core.states import CallState
from voicecall_cli.protocol.views import CallView, TranscriptLine

PER_CALL_KEY_CAP = 500


@dataclass(slots=True)
class TranscriptEntry:
    timestamp: int
    speaker: str  # "bot" | "user"
    text: str
    is_final: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "speaker": self.speaker, "text": self.text,
                "isFinal": self.is_final}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TranscriptEntry:
        return cls(int(d["timestamp"]), str(d["speaker"]), str(d["text"]),
                   bool(d.get("isFinal", True)))


@dataclass(slots=True)
class CallRecord:
    call_id: str
    provider: str
    direction: str  # "outbound" | "inbound"
    state: CallState
    from_number: str
    to_number: str
    started_at: int
    provider_call_id: str | None = None
    answered_at: int | None = None
    ended_at: int | None = None
    end_reason: str | None = None
    answered_by: str | None = None  # answering-machine detection: human|machine|fax|unknown
    transcript: list[TranscriptEntry] = field(default_factory=list)
    processed_event_ids: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # {"url", "durationSec"} once the carrier reported the call's recording (opt-in)
    recording: dict[str, Any] | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def mode(self) -> str:
        """Outbound calls carry their mode; inbound calls behave as conversations."""
        return str(self.metadata.get("mode") or "conversation")

    def remember_key(self, key: str) -> None:
        self.processed_event_ids.append(key)
        if len(self.processed_event_ids) > PER_CALL_KEY_CAP:
            del self.processed_event_ids[: len(self.processed_event_ids) - PER_CALL_KEY_CAP]

    def to_dict(self) -> dict[str, Any]:
        """The stored form: :meth:`to_view`'s JSON plus ``processedEventIds``."""
        return {
            "callId": self.call_id,
            "providerCallId": self.provider_call_id,
            "provider": self.provider,
            "direction": self.direction,
            "state": self.state.value,
            "from": self.from_number,
            "to": self.to_number,
            "startedAt": self.started_at,
            "answeredAt": self.answered_at,
            "endedAt": self.ended_at,
            "endReason": self.end_reason,
            "answeredBy": self.answered_by,
            "transcript": [t.to_dict() for t in self.transcript],
            "metadata": dict(self.metadata),
            **({"recording": dict(self.recording)} if self.recording is not None else {}),
            "processedEventIds": list(self.processed_event_ids),
        }

    def to_view(self) -> CallView:
        """The call as the control API shows it."""
        return CallView(
            callId=self.call_id, providerCallId=self.provider_call_id, provider=self.provider,
            direction=self.direction, state=self.state.value, from_=self.from_number,
            to=self.to_number, startedAt=self.started_at, answeredAt=self.answered_at,
            endedAt=self.ended_at, endReason=self.end_reason,
            answeredBy=self.answered_by,
            transcript=tuple(TranscriptLine(t.timestamp, t.speaker, t.text, t.is_final)
                             for t in self.transcript),
            metadata=dict(self.metadata),
            recording=dict(self.recording) if self.recording is not None else None)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CallRecord:
        return cls(
            call_id=str(d["callId"]),
            provider=str(d["provider"]),
            direction=str(d["direction"]),
            state=CallState(d["state"]),
            from_number=str(d.get("from") or "unknown"),
            to_number=str(d.get("to") or "unknown"),
            started_at=int(d["startedAt"]),
            provider_call_id=d.get("providerCallId"),
            answered_at=d.get("answeredAt"),
            ended_at=d.get("endedAt"),
            end_reason=d.get("endReason"),
            answered_by=d.get("answeredBy"),
            transcript=[TranscriptEntry.from_dict(t) for t in d.get("transcript") or []],
            processed_event_ids=[str(k) for k in d.get("processedEventIds") or []],
            metadata=dict(d.get("metadata") or {}),
            recording=dict(d["recording"]) if isinstance(d.get("recording"), dict) else None,
        )
