"""Field specifications: the building blocks of the schema and the rules they enforce.

Each spec checks one value and returns its validated form (with defaults filled in below it),
or :data:`MISSING` after reporting an issue to the :class:`Checker`. Messages describe the rule,
never the value, so a wrongly typed secret is never echoed. Only :class:`Enum` quotes what was
written, and no secret is an enum.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from voicecall_cli.core.config.errors import ConfigIssue
from voicecall_cli.protocol.text import E164_MESSAGE, is_e164, is_e164_prefix

MISSING: Any = object()
MAX_EXACT_INT = 2**53  # the largest integer any setting may hold (exact in every JSON reader)
CLOCK_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", re.ASCII)


def join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class Checker:
    """Collects issues for one validation run. ``prefix`` is prepended to every reported path
    (``plugins.entries.voice-call.config`` when the file is a whole OpenClaw config)."""

    def __init__(self, prefix: str = "",
                 suggest: Callable[[str, str], list[str]] | None = None) -> None:
        self.prefix = prefix
        self.issues: list[ConfigIssue] = []
        self._suggest = suggest

    def full(self, path: str) -> str:
        return join(self.prefix, path) if path else self.prefix

    def report(self, path: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.full(path), message))

    def has_issue_at(self, path: str) -> bool:
        """True when an issue concerns ``path``, a key below it or an object above it."""
        full = self.full(path)
        return any(i.path == full or i.path.startswith((full + ".", full + "["))
                   or full.startswith(i.path + ".") for i in self.issues)

    def unknown_key(self, parent: str, key: str, siblings: Sequence[str]) -> None:
        path = join(parent, key)
        hint = close_match(key, siblings)
        if hint:
            suggestions = [join(parent, hint)]
        else:
            suggestions = self._suggest(parent, key) if self._suggest else []
        message = f"unknown key {self.full(path)}"
        if suggestions:
            message += f" (did you mean {' or '.join(self.full(s) for s in suggestions)}?)"
        self.report(path, message)


def close_match(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word`` (case-insensitive), if any is close enough."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[hits[0]] if hits else None


class Spec:
    """Base class: ``default`` is filled in when the key is absent (or null)."""

    secret = False

    def __init__(self, default: Any = MISSING) -> None:
        self.default = default

    def default_value(self) -> Any:
        return MISSING if self.default is MISSING else copy.deepcopy(self.default)

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        raise NotImplementedError


class Str(Spec):
    def __init__(self, default: Any = MISSING, *, min_len: int = 1, secret: bool = False):
        super().__init__(default)
        self.min_len = min_len
        self.secret = secret

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, str) or len(value) < self.min_len:
            checker.report(path, "must be a non-empty string" if self.min_len else
                           "must be a string")
            return MISSING
        return value


class Bool(Spec):
    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, bool):
            checker.report(path, "must be true or false")
            return MISSING
        return value


def _as_number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _range_text(gt: float | None, ge: float | None, le: float | None) -> str:
    if ge is not None and le is not None:
        return f" between {_show(ge)} and {_show(le)}"
    if gt is not None:
        return f" > {_show(gt)}" + (f" and <= {_show(le)}" if le is not None else "")
    if ge is not None:
        return f" >= {_show(ge)}"
    return ""


class Number(Spec):
    """A number with optional bounds (``gt`` exclusive, ``ge``/``le`` inclusive)."""

    integer = False

    def __init__(self, default: Any = MISSING, *, gt: float | None = None,
                 ge: float | None = None, le: float | None = None):
        super().__init__(default)
        self.gt, self.ge, self.le = gt, ge, le

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        number = _as_number(value)
        if isinstance(number, int) and abs(number) > MAX_EXACT_INT:
            number = None  # no setting means that much (and float() of it would overflow)
        if number is not None and self.integer:
            number = int(number) if float(number).is_integer() else None
        if number is None or not self._in_range(number):
            kind = "an integer" if self.integer else "a number"
            checker.report(path, f"must be {kind}{_range_text(self.gt, self.ge, self.le)}")
            return MISSING
        return number

    def _in_range(self, number: float) -> bool:
        return ((self.gt is None or number > self.gt) and (self.ge is None or number >= self.ge)
                and (self.le is None or number <= self.le))


class Int(Number):
    integer = True


class Enum(Spec):
    def __init__(self, choices: Sequence[str], default: Any = MISSING):
        super().__init__(default)
        self.choices = tuple(choices)

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if isinstance(value, str) and value in self.choices:
            return value
        message = "must be one of: " + ", ".join(self.choices)
        if isinstance(value, str) and len(value) <= 40:
            hint = close_match(value, self.choices)
            message += f' (got "{value}"' + (f"; did you mean {hint}?)" if hint else ")")
        checker.report(path, message)
        return MISSING


class Phone(Spec):
    """An E.164 phone number (``+``, then 2 to 15 ASCII digits, the first not 0)."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not is_e164(value):
            checker.report(path, E164_MESSAGE)
            return MISSING
        return value


class PhonePrefix(Spec):
    """An E.164 number or the start of one (``+1555``, ``+44``)."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not is_e164_prefix(value):
            checker.report(path, "Expected an E.164 number or prefix, e.g. +1555 or +44")
            return MISSING
        return value


class ClockTime(Spec):
    """A time of day, ``HH:MM`` (24-hour)."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, str) or not CLOCK_RE.match(value):
            checker.report(path, 'must be a time of day "HH:MM" (24-hour), e.g. "21:00"')
            return MISSING
        return value


class TimeZone(Spec):
    """An IANA time zone name that this machine's zone data knows (``Europe/London``)."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if isinstance(value, str) and value:
            try:
                zoneinfo.ZoneInfo(value)
                return value
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                pass
        shown = f' "{value}"' if isinstance(value, str) and len(value) <= 60 else ""
        checker.report(path, f"unknown time zone{shown}: use an IANA name such as "
                             "Europe/London or America/New_York")
        return MISSING


class Url(Spec):
    """An absolute http(s) URL with a host."""

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if isinstance(value, str):
            try:
                parts = urlsplit(value)
            except ValueError:
                parts = None
            if parts is not None and parts.scheme in ("http", "https") and parts.hostname:
                return value
        checker.report(path, "must be an http(s) URL, e.g. https://voice.example.com")
        return MISSING


class IpAddress(Spec):
    def check(self, value: Any, path: str, checker: Checker) -> Any:
        try:
            ipaddress.ip_address(value if isinstance(value, str) else "")
        except ValueError:
            checker.report(path, "must be an IP address, e.g. 100.64.0.1")
            return MISSING
        return value


class ListOf(Spec):
    def __init__(self, item: Spec, default: Any = MISSING):
        super().__init__(default)
        self.item = item

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, list):
            checker.report(path, "must be a list")
            return MISSING
        checked = [self.item.check(entry, f"{path}[{i}]", checker)
                   for i, entry in enumerate(value)]
        return MISSING if any(c is MISSING for c in checked) else checked


class Obj(Spec):
    """A strict object: unknown keys are errors; null counts as absent. When the key itself is
    absent the object still appears (with its defaults) if any field below it has a default."""

    def __init__(self, fields: Mapping[str, Spec]):
        super().__init__()
        self.fields = dict(fields)

    def default_value(self) -> Any:
        out = {}
        for key, spec in self.fields.items():
            value = spec.default_value()
            if value is not MISSING:
                out[key] = value
        return out or MISSING

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        if not isinstance(value, dict):
            checker.report(path, "must be an object (a table)")
            return MISSING
        for key in value:
            if key not in self.fields:
                checker.unknown_key(path, str(key), list(self.fields))
        out: dict[str, Any] = {}
        for key, spec in self.fields.items():
            given = value.get(key)
            result = (spec.default_value() if given is None
                      else spec.check(given, join(path, key), checker))
            if result is not MISSING:
                out[key] = result
        return out


class TimeWindow(Obj):
    """``{start: "HH:MM", end: "HH:MM", timezone?}``: a daily window (``end`` before ``start``
    crosses midnight); both ends are required and must differ (the window would be empty)."""

    def __init__(self) -> None:
        super().__init__({"start": ClockTime(), "end": ClockTime(), "timezone": TimeZone()})

    def check(self, value: Any, path: str, checker: Checker) -> Any:
        out = super().check(value, path, checker)
        if out is MISSING:
            return MISSING
        for key in ("start", "end"):
            if key not in out and not checker.has_issue_at(join(path, key)):
                checker.report(join(path, key), f"{checker.full(join(path, key))} is required")
        if "start" not in out or "end" not in out:
            return MISSING
        if out["start"] == out["end"]:
            checker.report(join(path, "end"), "must differ from start (the window would be "
                                              "empty; remove the key to switch it off)")
            return MISSING
        return out
