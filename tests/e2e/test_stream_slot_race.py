"""``streaming.maxInboundStreams`` holds in the gap between handing out a stream and the
carrier connecting it (issue #14): a real daemon and each carrier's simulator, one slot.

The simulators run without ``stream_audio``: they take the stream TwiML/XML/command the daemon
hands the first caller and record it, but never connect the stream, so the daemon never sees
its ``start`` (the widest form of the carrier's delay, deterministic rather than hoped for). A
second inbound caller in that gap must wait on hold: the slot was taken when the first one was
given its stream. When the first caller hangs up without ever streaming, their slot frees and
the held caller is given the stream.
"""

from __future__ import annotations

import trio

from voicecall_cli.simulator.plivo.simulator import CalleeScript as PlivoCallee
from voicecall_cli.simulator.telnyx.simulator import CalleeScript as TelnyxCallee
from voicecall_cli.simulator.twilio.simulator import CalleeScript as TwilioCallee

from .conftest import until
from .test_plivo import STREAMING as PLIVO_STREAMING
from .test_plivo import plivo_daemon
from .test_telnyx import STREAMING as TELNYX_STREAMING
from .test_telnyx import telnyx_daemon
from .test_twilio import ALLOWED, cli_json, twilio_daemon
from .test_twilio_hold_queue import HOLD_CONFIG, call_of, stream_events

OUR_NUMBER = "+15550009999"
HOLD_PROMPT = "Please hold while we connect you."


async def never_streamed(daemon, provider_call_id: str) -> None:
    """The daemon saw no stream start for the call: the slot was only handed out."""
    call_id = (await call_of(daemon, provider_call_id))["callId"]
    assert await stream_events(daemon, call_id) == []


async def test_twilio_a_caller_in_the_gap_before_the_first_stream_connects_holds() -> None:
    with trio.fail_after(90):
        async with twilio_daemon(TwilioCallee(), extra_config=HOLD_CONFIG, policy="open") as (
                daemon, sim):
            webhook = daemon.health()["webhookUrl"]
            first = await sim.place_inbound(from_=ALLOWED, to=OUR_NUMBER, webhook_url=webhook)
            await sim.wait_for_stream(first)  # handed out; Twilio has not connected it
            second = await sim.place_inbound(from_="+15550004321", to=OUR_NUMBER,
                                             webhook_url=webhook)
            await sim.wait_for(lambda: sim.calls[second].queue is not None)
            assert sim.calls[second].stream is None
            await never_streamed(daemon, first)

            # the operator ends the first call (an inbound Twilio call reports no hang-up
            # without a status callback): it never streamed, and the slot it was given frees
            first_id = (await call_of(daemon, first))["callId"]
            await cli_json(daemon, "end", "--call-id", first_id)
            with trio.fail_after(30):
                await sim.wait_for_stream(second)


async def test_plivo_a_caller_in_the_gap_before_the_first_stream_connects_holds() -> None:
    with trio.fail_after(90):
        async with plivo_daemon(PlivoCallee(), PLIVO_STREAMING) as (daemon, sim):
            first = await sim.place_inbound(from_="+15550003333", to=OUR_NUMBER)
            await until(lambda: sim.calls[first].streams, "the first caller's stream XML")
            second = await sim.place_inbound(from_="+15550004444", to=OUR_NUMBER)
            await until(lambda: HOLD_PROMPT in sim.calls[second].spoken, "the hold message")
            assert not sim.calls[second].streams
            await never_streamed(daemon, first)

            sim.hang_up(first)
            await until(lambda: sim.calls[second].streams, "the second caller's stream", 30)


async def test_telnyx_a_caller_in_the_gap_before_the_first_stream_connects_holds() -> None:
    with trio.fail_after(90):
        async with telnyx_daemon(TelnyxCallee(), TELNYX_STREAMING + "maxInboundStreams = 1\n"
                                 ) as (daemon, sim):
            first = await sim.place_inbound(from_="+15550003333", to=OUR_NUMBER)
            await sim.wait_for_stream(first)  # answered with a stream Telnyx has not opened
            second = await sim.place_inbound(from_="+15550004444", to=OUR_NUMBER)
            await until(lambda: HOLD_PROMPT in sim.calls[second].spoken, "the hold message")
            assert sim.calls[second].stream is None
            await never_streamed(daemon, first)

            sim.hang_up(first)
            with trio.fail_after(30):
                await sim.wait_for_stream(second)
