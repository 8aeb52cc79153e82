"""The inbound hold queue on Telnyx (issue #14 item 19): a real daemon and the Telnyx simulator.

Telnyx has no queue verb: an inbound caller is answered by a command. With
``streaming.maxInboundStreams = 1`` a caller who finds the slot taken is answered without a
stream and told to hold; when the slot frees the longest-waiting one gets the stream
(``streaming_start``); one who hangs up while holding leaves the line, so the next caller is
answered with a stream at once.
"""

from __future__ import annotations

import trio

from voicecall_cli.simulator.telnyx.simulator import CalleeScript

from .conftest import until
from .test_telnyx import STREAMING, telnyx_daemon
from .test_twilio_hold_queue import call_of, stream_events

HOLD_PROMPT = "Please hold while we connect you."
ONE_SLOT = STREAMING + "maxInboundStreams = 1\n"


async def until_streaming(daemon, pid: str) -> str:
    call_id = (await call_of(daemon, pid))["callId"]
    with trio.fail_after(20):
        while "started" not in await stream_events(daemon, call_id):
            await trio.sleep(0.05)
    return call_id


async def test_held_callers_are_connected_in_order_and_one_who_hangs_up_leaves() -> None:
    callee = CalleeScript(stream_audio=True, reply_seconds=0.6, reply_delay_s=0.2)
    with trio.fail_after(120):
        async with telnyx_daemon(callee, ONE_SLOT) as (daemon, sim):
            async def ring(from_: str) -> str:
                return await sim.place_inbound(from_=from_, to="+15550009999")

            def actions(pid: str) -> list[str]:
                return [c.action for c in sim.calls[pid].commands]

            first = await ring("+15550003333")
            await until_streaming(daemon, first)
            second = await ring("+15550004444")
            await until(lambda: HOLD_PROMPT in sim.calls[second].spoken, "the 2nd on hold")
            third = await ring("+15550005555")
            await until(lambda: HOLD_PROMPT in sim.calls[third].spoken, "the 3rd on hold")
            assert sim.calls[second].stream is None and sim.calls[third].stream is None

            sim.hang_up(first)
            await until_streaming(daemon, second)
            assert "streaming_start" in actions(second)
            assert "streaming_start" not in actions(third)  # not first in line

            sim.hang_up(third)
            with trio.fail_after(15):
                while (await call_of(daemon, third))["endedAt"] is None:
                    await trio.sleep(0.05)

            second_id = (await call_of(daemon, second))["callId"]
            sim.hang_up(second)
            with trio.fail_after(15):
                while "stopped" not in await stream_events(daemon, second_id):
                    await trio.sleep(0.05)
            fourth = await ring("+15550006666")  # nobody waits any more: a stream at once
            await until_streaming(daemon, fourth)
            assert HOLD_PROMPT not in sim.calls[fourth].spoken
            assert "streaming_start" not in actions(fourth) + actions(third)
