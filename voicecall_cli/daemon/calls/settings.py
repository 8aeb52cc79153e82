"""The slice of the configuration the call manager acts on, as one immutable value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MOCK_FROM_NUMBER = "+15550000000"


@dataclass(frozen=True, slots=True)
class CallSettings:
    provider: str = "mock"
    from_number: str | None = None
    to_number: str | None = None
    default_mode: str = "notify"
    notify_hangup_delay_s: float = 3.0
    max_duration_s: float = 300.0
    transcript_timeout_ms: int = 180_000
    ring_timeout_ms: int = 30_000
    stale_call_reaper_s: float = 0.0
    reaper_interval_s: float = 30.0
    max_concurrent_calls: int = 1
    inbound_policy: str = "disabled"
    allow_from: tuple[str, ...] = field(default_factory=tuple)
    inbound_greeting: str | None = None

    @property
    def effective_from_number(self) -> str | None:
        if self.from_number:
            return self.from_number
        return MOCK_FROM_NUMBER if self.provider == "mock" else None

    @classmethod
    def from_config(cls, cfg: Any) -> CallSettings:
        """Build from a validated ``VoiceCallConfig`` (anything with ``get(dotted_key)``)."""
        return cls(
            provider=cfg.get("provider"),
            from_number=cfg.get("fromNumber"),
            to_number=cfg.get("toNumber"),
            default_mode=cfg.get("outbound.defaultMode"),
            notify_hangup_delay_s=float(cfg.get("outbound.notifyHangupDelaySec")),
            max_duration_s=float(cfg.get("maxDurationSeconds")),
            transcript_timeout_ms=int(cfg.get("transcriptTimeoutMs")),
            ring_timeout_ms=int(cfg.get("ringTimeoutMs")),
            stale_call_reaper_s=float(cfg.get("staleCallReaperSeconds")),
            max_concurrent_calls=int(cfg.get("maxConcurrentCalls")),
            inbound_policy=cfg.get("inboundPolicy"),
            allow_from=tuple(cfg.get("allowFrom") or ()),
            inbound_greeting=cfg.get("inboundGreeting"),
        )
