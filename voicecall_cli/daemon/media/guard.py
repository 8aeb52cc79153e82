"""What media-stream sockets may get wrong before they are closed, and how that is logged.

The carrier's frames are input from the network: before a valid ``start`` anyone can send
them, afterwards only the carrier (or whoever holds a spent token's socket). A
:class:`SocketGuard` per socket counts what the endpoint reports and says when to close:

* a malformed frame (the codec raised while decoding it: ``ValueError`` for a frame it
  recognised as malformed, anything else for input it did not expect) is ignored, as the
  reference does with malformed JSON, but counted: more than
  :attr:`FrameLimits.bad_before_start` of them before the start, or more than
  :attr:`FrameLimits.bad_in_a_row` in a row after it -> close 1008 "Too many malformed
  messages";
* more than :attr:`FrameLimits.frames_before_start` frames of any kind before a valid start
  -> close 1008 "Too many messages before start" (a carrier sends two or three).

Log lines go through the endpoint's :class:`EndpointLog`: one rate-limited
:class:`~voicecall_cli.daemon.loglimit.LogLimiter` for the endpoint, one line per kind per
socket (the rest counted, summed up when the socket closes: :meth:`SocketGuard.close`), a
traceback only the first time a kind of failure of ours comes up, and, while the endpoint
runs, a :class:`~voicecall_cli.daemon.loglimit.RateLimitFilter` capping any one kind of line
of the ``voicecall.media`` logger. :class:`PendingSlots` counts the sockets still waiting for
their start, in total and per client IP.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import trio

from voicecall_cli.daemon.loglimit import Clock, Hush, LogLimiter, LogScope, RateLimitFilter
from voicecall_cli.daemon.media.outbox import sanitise_reason

TOO_MANY_MALFORMED = "Too many malformed messages"
TOO_MANY_BEFORE_START = "Too many messages before start"


@dataclass(frozen=True)
class FrameLimits:
    bad_before_start: int = 8
    bad_in_a_row: int = 50  # one second of 20 ms frames
    frames_before_start: int = 256


DEFAULT_LIMITS = FrameLimits()


def default_clock() -> float:
    """trio's clock inside ``trio.run`` (MockClock tests move it), else the monotonic clock."""
    try:
        return trio.current_time()
    except RuntimeError:
        return time.monotonic()


def describe(exc: BaseException) -> str:
    """A short, single-line account of why a frame was refused (no frame content)."""
    text = sanitise_reason(str(exc), 160)
    if isinstance(exc, ValueError):
        return text or "malformed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SocketGuard:
    """One socket's counters and log (module docstring)."""

    def __init__(self, limiter: LogLimiter, client_ip: str, limits: FrameLimits) -> None:
        self.client_ip = client_ip
        self.log = LogScope(limiter, f"media stream from {client_ip}")
        self._limits = limits
        self._before_start = 0
        self._bad = 0
        self._bad_in_a_row = 0

    def frame(self, started: bool) -> str | None:
        """A frame arrived: the close reason when the socket sent too many before its start."""
        if started:
            return None
        self._before_start += 1
        if self._before_start > self._limits.frames_before_start:
            return TOO_MANY_BEFORE_START
        return None

    def good(self) -> None:
        self._bad_in_a_row = 0

    def bad(self, exc: BaseException, started: bool) -> str | None:
        """A frame the codec could not decode: logged (coalesced); the close reason when that
        was one too many."""
        self._bad += 1
        self._bad_in_a_row += 1
        self.log.log("malformed", logging.WARNING, "malformed message ignored (%s)",
                     describe(exc))
        if not started and self._bad > self._limits.bad_before_start:
            return TOO_MANY_MALFORMED
        if started and self._bad_in_a_row > self._limits.bad_in_a_row:
            return TOO_MANY_MALFORMED
        return None

    def close(self) -> None:
        self.log.close()


class EndpointLog:
    """The media endpoint's logging (module docstring). :meth:`attach` installs its filters
    on the logger (the endpoint's ``run``), :meth:`detach` removes them and writes what is
    still to be summed up."""

    def __init__(self, logger: logging.Logger, clock: Clock) -> None:
        self.logger = logger
        self.limiter = LogLimiter(logger, rate_per_s=1.0, burst=20, summary_every_s=60.0,
                                  clock=clock)
        self._flood_guard = RateLimitFilter(rate_per_s=5.0, burst=100, clock=clock)
        self._hush = Hush()
        self._traced: set[type[BaseException]] = set()

    def attach(self) -> None:
        self.logger.addFilter(self._hush)
        self.logger.addFilter(self._flood_guard)

    def detach(self) -> None:
        self.limiter.flush()
        self.logger.removeFilter(self._flood_guard)
        self.logger.removeFilter(self._hush)

    def log(self, level: int, msg: str, *args: Any) -> None:
        self.limiter.log(level, msg, *args)

    def failure(self, scope: LogScope | None, msg: str, *args: Any, exc: Exception) -> None:
        """A failure of ours: an ERROR line, with a traceback the first time for its kind."""
        first = type(exc) not in self._traced
        self._traced.add(type(exc))
        if scope is None:
            self.limiter.log(logging.ERROR, msg, *args, exc_info=exc if first else None)
        else:
            scope.log("failed", logging.ERROR, msg, *args, exc_info=exc if first else None)

    @contextmanager
    def hushed(self) -> Iterator[None]:
        """Nothing the logger is given inside is written (a line logged already in its place)."""
        self._hush.on = True
        try:
            yield
        finally:
            self._hush.on = False


class PendingSlots:
    """Sockets waiting for their start: at most ``total``, and ``per_ip`` from one client."""

    def __init__(self, total: int, per_ip: int) -> None:
        self._total = total
        self._per_ip = per_ip
        self._count = 0
        self._by_ip: Counter[str] = Counter()

    def take(self, client_ip: str) -> bool:
        """Take a slot for ``client_ip``; False when none is free."""
        if self._count >= self._total or self._by_ip[client_ip] >= self._per_ip:
            return False
        self._count += 1
        self._by_ip[client_ip] += 1
        return True

    def give_back(self, client_ip: str) -> None:
        self._count -= 1
        self._by_ip[client_ip] -= 1
        if not self._by_ip[client_ip]:
            del self._by_ip[client_ip]
