"""What one media-stream socket may get wrong before it is closed, and its coalesced log.

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

Log lines go through the endpoint's :class:`~voicecall_cli.daemon.loglimit.LogLimiter`, one
per kind per socket (the rest counted, summed up when the socket closes: :meth:`close`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from voicecall_cli.daemon.loglimit import LogLimiter, LogScope
from voicecall_cli.daemon.media.outbox import sanitise_reason

TOO_MANY_MALFORMED = "Too many malformed messages"
TOO_MANY_BEFORE_START = "Too many messages before start"


@dataclass(frozen=True)
class FrameLimits:
    bad_before_start: int = 8
    bad_in_a_row: int = 50  # one second of 20 ms frames
    frames_before_start: int = 256


DEFAULT_LIMITS = FrameLimits()


def describe(exc: BaseException) -> str:
    """A short, single-line account of why a frame was refused (no frame content)."""
    text = sanitise_reason(str(exc), 160)
    if isinstance(exc, ValueError):
        return text or "malformed"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SocketGuard:
    """One socket's counters and log (module docstring)."""

    def __init__(self, limiter: LogLimiter, client_ip: str, limits: FrameLimits) -> None:
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
