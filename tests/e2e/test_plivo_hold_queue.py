"""The inbound hold queue on Plivo (issue #14 item 19): a real daemon and the Plivo simulator.

Plivo has no queue of its own: a held caller hears the hold message, then waits and asks the
daemon again (``flow=hold``). With ``streaming.maxInboundStreams = 1``: the 2nd and 3rd callers
hold; when the 1st hangs up the 2nd (the longest-waiting) is transferred to a stream at once,
and the 3rd's own checks never jump the line; the 3rd hangs up while holding and leaves the
queue, so the next caller streams at once.
"""

from __future__ import annotations

import trio

from voicecall_cli.simulator.plivo.simulator import CalleeScript

from .conftest import until
from .test_plivo import STREAMING, plivo_daemon
from .test_twilio_hold_queue import call_of, stream_events

HOLD_PROMPT = "Please hold while we connect you."


async def test_held_callers_are_connected_in_order_and_one_who_hangs_up_leaves() -> None:
    callee = CalleeScript(stream_audio=True, reply_seconds=0.6, reply_delay_s=0.2)
    with trio.fail_after(120):
        async with plivo_daemon(callee, STREAMING) as (daemon, sim):
            async def ring(from_: str) -> str:
                return await sim.place_inbound(from_=from_, to="+15550009999")

            first = await ring("+15550003333")
            await until(lambda: sim.calls[first].streams, "the first caller's stream")
            first_id = (await call_of(daemon, first))["callId"]
            with trio.fail_after(15):
                while "started" not in await stream_events(daemon, first_id):
                    await trio.sleep(0.05)
            second = await ring("+15550004444")
            await until(lambda: HOLD_PROMPT in sim.calls[second].spoken, "the 2nd on hold")
            third = await ring("+15550005555")
            await until(lambda: HOLD_PROMPT in sim.calls[third].spoken, "the 3rd on hold")
            assert not sim.calls[second].streams and not sim.calls[third].streams

            sim.hang_up(first)
            await until(lambda: sim.calls[second].streams, "the 2nd caller's stream", 20)
            assert any("flow=hold" in url for url in sim.calls[second].transfers)
            assert not sim.calls[third].streams  # still waiting: not first in line

            sim.hang_up(third)
            with trio.fail_after(15):
                while (ended := await call_of(daemon, third))["endedAt"] is None:
                    await trio.sleep(0.05)
            assert not sim.calls[third].streams

            second_id = (await call_of(daemon, second))["callId"]
            sim.hang_up(second)
            with trio.fail_after(15):
                while "stopped" not in await stream_events(daemon, second_id):
                    await trio.sleep(0.05)
            fourth = await ring("+15550006666")  # nobody waits any more: streams at once
            await until(lambda: sim.calls[fourth].streams, "the 4th caller's stream", 20)
            assert HOLD_PROMPT not in sim.calls[fourth].spoken
            for call in (sim.calls[second], sim.calls[third], sim.calls[fourth]):
                assert call.xml_errors == [] and call.errors == []
            assert ended["endedAt"] is not None
