"""The stale-call reaper (reference section 10, 'L' rules).

Every ``reaper_interval_s`` it ends (``hangup-bot``) calls older than
``staleCallReaperSeconds`` that were never answered and are not talking; it never starts a
second hang-up for a call whose previous one has not settled, and a failed one is retried on the
next tick. Runs in the call manager's nursery until the daemon stops.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from voicecall_cli.core.call import CallRecord
from voicecall_cli.core.states import CallState

if TYPE_CHECKING:
    from voicecall_cli.daemon.calls.manager import CallManager

log = logging.getLogger("voicecall.reaper")
_LIVE = frozenset({CallState.SPEAKING, CallState.LISTENING})


def stale_calls(m: CallManager, now_ms: int, in_flight: set[str]) -> list[CallRecord]:
    limit = int(m.settings.stale_call_reaper_s * 1000)
    return [c for c in m.calls.values()
            if not c.is_terminal and c.answered_at is None and c.state not in _LIVE
            and c.call_id not in in_flight and now_ms - c.started_at > limit]


async def reap_stale_calls(m: CallManager) -> None:
    in_flight: set[str] = set()

    async def reap(call: CallRecord) -> None:
        try:
            await m.hang_up(call, CallState.HANGUP_BOT.value)
        except Exception as exc:
            log.warning("Reaper failed to end call %s: %s", call.call_id, exc)
        finally:
            in_flight.discard(call.call_id)

    async with trio.open_nursery() as nursery:
        while True:
            await trio.sleep(m.settings.reaper_interval_s)
            for call in stale_calls(m, m.now_ms(), in_flight):
                in_flight.add(call.call_id)
                nursery.start_soon(reap, call)
