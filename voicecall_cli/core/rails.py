"""Outbound safety rails: the pure decisions behind ``outbound.allowTo``,
``outbound.quietHours``, ``outbound.maxCallsPerHour`` / ``maxCallsPerHourPerNumber``, and the
request fingerprint that idempotency keys and confirmation tokens are bound to.

No I/O and no clock: the time (epoch ms), the time zone (a ``tzinfo``) and the recent dials
(their start times, read from the store by the daemon) are passed in. The daemon
(``daemon.calls.rails``) applies :func:`outbound_refusal` to every outbound request, whoever
sends it, and turns a :class:`Refusal` into the control API's ``refused`` error and a
``call.refused`` event.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from voicecall_cli.protocol.text import is_e164

HOUR_MS = 3_600_000
MINUTES_PER_DAY = 24 * 60

RAIL_ALLOW_TO = "outbound.allowTo"
RAIL_QUIET_HOURS = "outbound.quietHours"
RAIL_MAX_PER_HOUR = "outbound.maxCallsPerHour"
RAIL_MAX_PER_NUMBER = "outbound.maxCallsPerHourPerNumber"
RAIL_CONFIRMATION = "mcp.requireConfirmation"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a rail refused a call: ``rail`` is its config key, ``reason`` says what to change."""

    rail: str
    reason: str


def clock_minutes(hhmm: str) -> int:
    """``"HH:MM"`` as minutes after midnight (the config has checked the format)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Calls are refused while the local wall-clock time in ``tz`` is in [start, end);
    ``start``/``end`` are minutes after midnight and differ; ``end < start`` crosses
    midnight. ``label`` names the zone in messages (``Europe/London``, ``local time``)."""

    start: int
    end: int
    tz: tzinfo
    label: str

    def describe(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)} {self.label}"


@dataclass(frozen=True, slots=True)
class OutboundRails:
    """The rails in force (the daemon builds this from the configuration).

    Empty ``allow_to`` allows any destination; None switches a rail off."""

    allow_to: tuple[str, ...] = field(default_factory=tuple)
    quiet_hours: QuietHours | None = None
    max_calls_per_hour: int | None = None
    max_calls_per_hour_per_number: int | None = None
    require_confirmation: bool = False  # mcp.requireConfirmation: agents confirm each call


def number_allowed(to: str, allow_to: Sequence[str]) -> bool:
    """True when ``allow_to`` is empty or ``to`` equals an entry or starts with it."""
    return not allow_to or (is_e164(to) and any(to.startswith(entry) for entry in allow_to))


def _local_wall(epoch_ms: int, tz: tzinfo) -> datetime:
    """The naive local wall-clock time in ``tz`` at ``epoch_ms``."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz).replace(tzinfo=None)


def _first_instant_at(wall: datetime, tz: tzinfo, after_ms: int) -> int:
    """The first instant (epoch ms) after ``after_ms`` at which the local time in ``tz`` reads
    ``wall`` or later.

    An ambiguous wall time (clocks going back) is its first occurrence after ``after_ms``; a
    wall time that does not exist (clocks going forward skip it) is the instant the clocks
    jump past it."""
    candidates = sorted({int(wall.replace(tzinfo=tz, fold=fold).timestamp() * 1000)
                         for fold in (0, 1)})
    real = [c for c in candidates if _local_wall(c, tz) == wall]
    if real:
        return next((c for c in real if c > after_ms), real[-1])
    lo, hi = candidates[0], candidates[-1]  # wall(lo) < wall <= wall(hi)
    while hi - lo > 1000:  # zone transitions fall on whole seconds
        mid = max(lo + 1000, (lo + hi) // 2 // 1000 * 1000)
        if _local_wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def quiet_until(now_ms: int, quiet: QuietHours) -> int | None:
    """When the quiet hours that ``now_ms`` falls in end (epoch ms), or None when it is not in
    them. Local wall-clock minutes decide: 21:00 is in 21:00-08:00, 08:00 is not."""
    local = _local_wall(now_ms, quiet.tz)
    minute = local.hour * 60 + local.minute
    end_day: date = local.date()
    if quiet.start < quiet.end:
        if not quiet.start <= minute < quiet.end:
            return None
    elif minute >= quiet.start:  # the evening part of a window that crosses midnight
        end_day += timedelta(days=1)
    elif minute >= quiet.end:
        return None
    end = datetime.combine(end_day, time(quiet.end // 60, quiet.end % 60))
    return _first_instant_at(end, quiet.tz, now_ms)


def next_call_at(begun_at: Sequence[int], limit: int, now_ms: int,
                 window_ms: int = HOUR_MS) -> int | None:
    """None when fewer than ``limit`` dials began in the ``window_ms`` before ``now_ms``;
    otherwise the instant (epoch ms) from which one more dial fits in the window again."""
    recent = sorted(t for t in begun_at if t > now_ms - window_ms)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + window_ms


def _minutes_from(now_ms: int, then_ms: int) -> int:
    return max(1, math.ceil((then_ms - now_ms) / 60_000))


def outbound_refusal(rails: OutboundRails, to: str, now_ms: int, *,
                     recent: Sequence[int] = (), recent_to: Sequence[int] = ()
                     ) -> Refusal | None:
    """The first rail that refuses a call to ``to`` at ``now_ms``, or None when all allow it.

    Order: ``allowTo``, ``quietHours``, ``maxCallsPerHour``, ``maxCallsPerHourPerNumber``.
    ``recent``/``recent_to``: when the outbound dials of the last hour began (all of them /
    those to ``to``); only read for the limits that are set."""
    if not number_allowed(to, rails.allow_to):
        return Refusal(RAIL_ALLOW_TO, f"{to} is not in {RAIL_ALLOW_TO}; add the number (or a "
                                      "prefix of it) there to allow calls to it")
    quiet = rails.quiet_hours
    if quiet is not None:
        until = quiet_until(now_ms, quiet)
        if until is not None:
            ends = _local_wall(until, quiet.tz).strftime("%H:%M")
            return Refusal(RAIL_QUIET_HOURS, f"quiet hours ({quiet.describe()}) until {ends}; "
                                             f"call after that or change {RAIL_QUIET_HOURS}")
    limit = rails.max_calls_per_hour
    if limit is not None:
        at = next_call_at(recent, limit, now_ms)
        if at is not None:
            return Refusal(RAIL_MAX_PER_HOUR, f"{RAIL_MAX_PER_HOUR} ({limit}) reached; next "
                                              f"call possible in {_minutes_from(now_ms, at)} min")
    limit = rails.max_calls_per_hour_per_number
    if limit is not None:
        at = next_call_at(recent_to, limit, now_ms)
        if at is not None:
            return Refusal(RAIL_MAX_PER_NUMBER,
                           f"{RAIL_MAX_PER_NUMBER} ({limit}) reached for {to}; next call to it "
                           f"possible in {_minutes_from(now_ms, at)} min")
    return None


def request_fingerprint(to: str, from_number: str, mode: str, message: str,
                        objective: str | None = None, record: bool | None = None) -> str:
    """A digest of what an outbound request asks for (after defaults are applied): an
    idempotency key or a confirmation token is valid only for the request it was issued for.
    The options (``objective``, ``record``) count only when given, so a request without them
    has the digest it had before they existed."""
    parts: list[object] = [to, from_number, mode, message]
    options = {name: value for name, value in (("objective", objective), ("record", record))
               if value is not None}
    if options:
        parts.append(options)
    canonical = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
