"""The slice of the configuration the call manager acts on, as one immutable value.

The outbound rails (:class:`~voicecall_cli.core.rails.OutboundRails`) are part of it; their
quiet-hours time zone is resolved here, once, at start: a named zone from the zone data, else
the machine's local zone (``TZ``, then ``/etc/localtime``).
"""

from __future__ import annotations

import os
import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from voicecall_cli.core.rails import OutboundRails, QuietHours, clock_minutes

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
    rails: OutboundRails = field(default_factory=OutboundRails)
    record_all: bool = False  # recording.enabled: every answered call is recorded
    machine_detection: str = "off"  # outbound.machineDetection

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
            rails=rails_from_config(cfg),
            record_all=bool(cfg.get("recording.enabled")),
            machine_detection=cfg.get("outbound.machineDetection") or "off",
        )


def rails_from_config(cfg: Any) -> OutboundRails:
    """The outbound rails of a validated configuration (``outbound.*``, ``mcp.*``)."""
    quiet = cfg.get("outbound.quietHours")
    quiet_hours = None
    if quiet:
        name = quiet.get("timezone")
        tz, label = (zoneinfo.ZoneInfo(name), name) if name else local_zone()
        quiet_hours = QuietHours(clock_minutes(quiet["start"]), clock_minutes(quiet["end"]),
                                 tz, label)
    return OutboundRails(
        allow_to=tuple(cfg.get("outbound.allowTo") or ()),
        quiet_hours=quiet_hours,
        max_calls_per_hour=cfg.get("outbound.maxCallsPerHour"),
        max_calls_per_hour_per_number=cfg.get("outbound.maxCallsPerHourPerNumber"),
        require_confirmation=bool(cfg.get("mcp.requireConfirmation")),
    )


def local_zone() -> tuple[tzinfo, str]:
    """The machine's local time zone and how messages name it.

    ``TZ`` (a zone name) first, then ``/etc/localtime`` (named after its zoneinfo link, if it is
    one); failing both, the current UTC offset (which does not follow daylight saving)."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name), name
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    localtime = Path("/etc/localtime")
    try:
        with localtime.open("rb") as f:
            zone = zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        fixed = datetime.now().astimezone().tzinfo
        assert fixed is not None
        return fixed, "local time"
    target = str(localtime.resolve())
    _, found, key = target.partition("zoneinfo/")
    return zone, (key if found and key else "local time")
