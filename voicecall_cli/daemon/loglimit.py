"""Logging that hostile input cannot turn into a flood: a token bucket, per-scope coalescing
and summaries of what was left out. Reusable by any part of the daemon that logs about input a
stranger controls (the media endpoint uses it for its sockets).

* :class:`LogLimiter` sits in front of one logger. Each line it writes spends a token of a
  bucket shared by all its callers (``burst`` deep, refilled at ``rate_per_s``); a line without
  a token is only counted. The count is reported in one line ("N log lines suppressed in the
  last S s") at most every ``summary_every_s``: with the next line that gets through, or from
  :meth:`LogLimiter.flush` (call it now and then, or at the end).
* :class:`LogScope` coalesces the lines of one source (one socket, say): the first line of
  each ``kind`` goes to the limiter, later ones of that kind are counted, and
  :meth:`LogScope.close` writes one line saying how many were left out.
* :class:`RateLimitFilter` is a :class:`logging.Filter` for a logger whose lines come from
  code that does not use a limiter: each (level, message template) gets its own bucket; a
  line let through after others were dropped says how many.
* :class:`Hush` is a :class:`logging.Filter` that drops every line while its ``on`` is set:
  around a call whose own logging a caller replaces with a rate-limited line of its own.

Time comes from ``clock`` (seconds, monotonic; pass ``trio.current_time`` to follow trio's
clock). Not thread-safe: used from the daemon's one trio thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

Clock = Callable[[], float]


class TokenBucket:
    """``burst`` tokens, refilled at ``rate_per_s``; :meth:`take` spends one if there is one."""

    def __init__(self, rate_per_s: float, burst: int, clock: Clock) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class LogLimiter:
    """A logger's lines through one token bucket, with summaries (module docstring)."""

    def __init__(self, logger: logging.Logger, *, rate_per_s: float = 1.0, burst: int = 20,
                 summary_every_s: float = 60.0, clock: Clock = time.monotonic) -> None:
        self.logger = logger
        self.summary_every_s = summary_every_s
        self._clock = clock
        self._bucket = TokenBucket(rate_per_s, burst, clock)
        self.suppressed = 0  # since the last summary
        self.written = 0
        self._since = clock()

    def log(self, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Write the line if the bucket allows (True), else count it."""
        self.flush(force=False)
        if not self._bucket.take():
            self.suppressed += 1
            return False
        self.written += 1
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def flush(self, *, force: bool = True) -> None:
        """Write the summary of suppressed lines: if any, and (unless ``force``) only once
        ``summary_every_s`` passed since the last one."""
        now = self._clock()
        if not self.suppressed or (not force and now - self._since < self.summary_every_s):
            return
        self.logger.warning("%d log lines suppressed in the last %.0f s (rate limit)",
                            self.suppressed, now - self._since)
        self.written += 1
        self.suppressed = 0
        self._since = now


class LogScope:
    """One source's lines: the first of each kind through the limiter, the rest counted."""

    def __init__(self, limiter: LogLimiter, label: str) -> None:
        self._limiter = limiter
        self.label = label
        self._seen: set[str] = set()
        self.left_out = 0

    def log(self, kind: str, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """``msg % args`` prefixed by the scope's label, the first time ``kind`` comes up."""
        if kind in self._seen:
            self.left_out += 1
            return False
        self._seen.add(kind)
        if not self._limiter.log(level, "%s: " + msg, self.label, *args, exc_info=exc_info):
            self.left_out += 1
            return False
        return True

    def close(self) -> None:
        """One line for what was left out, if anything (idempotent)."""
        if self.left_out:
            self._limiter.log(logging.WARNING, "%s: %d more lines like the above not logged",
                              self.label, self.left_out)
            self.left_out = 0


class RateLimitFilter(logging.Filter):
    """Per (level, template) token buckets for a logger (module docstring)."""

    def __init__(self, *, rate_per_s: float = 5.0, burst: int = 100,
                 clock: Clock = time.monotonic, max_templates: int = 256) -> None:
        super().__init__()
        self._rate = rate_per_s
        self._burst = burst
        self._clock = clock
        self._max_templates = max_templates
        self._buckets: dict[tuple[int, str], tuple[TokenBucket, list[int]]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, str(record.msg))
        entry = self._buckets.get(key)
        if entry is None:
            if len(self._buckets) >= self._max_templates:
                self._buckets.pop(next(iter(self._buckets)))
            entry = self._buckets[key] = (TokenBucket(self._rate, self._burst, self._clock), [0])
        bucket, dropped = entry
        if not bucket.take():
            dropped[0] += 1
            return False
        if dropped[0]:
            record.msg = f"{record.getMessage()} [{dropped[0]} similar lines suppressed]"
            record.args = ()
            dropped[0] = 0
        return True


class Hush(logging.Filter):
    """Drops every record while ``on`` is True (set it around a call, then reset it)."""

    def __init__(self) -> None:
        super().__init__()
        self.on = False

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.on
