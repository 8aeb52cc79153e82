"""The caller's touch tones (DTMF): stored as events, and the answer of a turn that takes keys.

:class:`KeyCollector` (one per call manager) gets every key the caller pressed (carrier
webhooks and media-stream frames, after the manager's pure decision) and stores it as a
``call.dtmf`` event ``{digits, direction: "in"}``. When the call's pending ``continue`` turn
accepts dtmf (``accept`` ``dtmf`` or ``both``), the keys answer it:

* keys the carrier collected for the turn itself (a Twilio ``<Gather>`` or Plivo
  ``<GetInput>`` result: events with ``keys_complete``) answer it at once;
* keys that arrive one at a time (media-stream ``dtmf`` frames, Telnyx ``call.dtmf.received``)
  are collected until ``#`` or until no key came for :data:`KEY_GAP_MS` (a manager timer, so
  tests move it with trio's MockClock); ``#`` ends the answer and is not part of it.

It also remembers for how long a carrier may be playing keys we sent (:meth:`stream_pause_s`:
Twilio plays them outside the call's media stream, which then reconnects). Owns no task; its
gap timers are the manager's and end with the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.daemon.calls.turns import TurnWaiter
from voicecall_cli.protocol import events as ev

KEY_GAP_MS = 3000  # no new key for this long ends a turn's keys (without a #)
FINISH_KEY = "#"
# How long a carrier may take to play keys: per pause character, per key, and a margin for the
# carrier coming back (Twilio reconnects a call's media stream after <Play digits>).
PAUSE_S = {"w": 0.5, "W": 1.0}
KEY_S = 0.5
PLAY_MARGIN_S = 10.0


def play_seconds(digits: str) -> float:
    """A generous bound on how long a carrier takes to play ``digits``."""
    return sum(PAUSE_S.get(c, KEY_S) for c in digits) + PLAY_MARGIN_S


class KeysHost(Protocol):
    """What the collector needs of its owner (the call manager)."""

    waiters: dict[str, TurnWaiter]

    def now_ms(self) -> int: ...
    def publish(self, call: CallRecord | None, kind: str, data: dict[str, Any]) -> None: ...
    def start_timer(self, call_id: str, name: str, deadline_ms: int,
                    fire: Callable[[CallRecord], Awaitable[None]]) -> None: ...


class KeyCollector:
    """The caller's keys, published and turned into turn answers (module docstring)."""

    def __init__(self, manager: KeysHost) -> None:
        self._m = manager
        self._playing: dict[str, float] = {}  # call id -> trio time its keys are surely played

    def received(self, call: CallRecord, digits: str, *, complete: bool,
                 for_turn: bool = True) -> None:
        """The caller pressed ``digits``; ``complete``: the carrier collected them as the
        whole answer (else they came as pressed); ``for_turn`` False: an older turn's."""
        m = self._m
        m.publish(call, ev.CALL_DTMF, {"digits": digits, "direction": "in"})
        waiter = m.waiters.get(call.call_id)
        if not for_turn or waiter is None or waiter.accept == "speech" or waiter.settled:
            return
        keys = waiter.keys + digits
        if complete or FINISH_KEY in keys:
            self._answer(call, keys.split(FINISH_KEY, 1)[0])
            return
        waiter.keys = keys

        async def gap_over(live: CallRecord) -> None:
            current = m.waiters.get(live.call_id)
            if current is waiter and waiter.keys:
                self._answer(live, waiter.keys)

        m.start_timer(call.call_id, "dtmf-gap", m.now_ms() + KEY_GAP_MS, gap_over)

    def _answer(self, call: CallRecord, keys: str) -> None:
        waiter = self._m.waiters.pop(call.call_id, None)
        if waiter is not None:
            waiter.keys = keys
            waiter.resolve(keys, input="dtmf")

    def stream_pause_s(self, call_id: str) -> float:
        """Seconds the call's media stream may stay away because the carrier is playing keys
        we sent (0 when it is not)."""
        until = self._playing.get(call_id)
        if until is None:
            return 0.0
        left = until - trio.current_time()
        if left <= 0:
            del self._playing[call_id]
            return 0.0
        return left

    def playing(self, call_id: str, digits: str) -> None:
        """The carrier is about to play ``digits`` on the call (entries past their time are
        dropped here, so the map holds only calls whose keys may still be playing)."""
        now = trio.current_time()
        for done in [c for c, until in self._playing.items() if until <= now]:
            del self._playing[done]
        self._playing[call_id] = now + play_seconds(digits)

    def not_playing(self, call_id: str) -> None:
        self._playing.pop(call_id, None)
