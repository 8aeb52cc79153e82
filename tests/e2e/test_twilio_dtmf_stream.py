"""Twilio touch tones on a call with a live media stream: ``<Play digits>`` replaces the call's
TwiML (Twilio closes the stream), and the ``<Redirect>`` after it brings the call back to a new
stream, without a second greeting and without the daemon taking the closed stream for a lost
call. A real daemon, the Twilio simulator, its callee talking on the stream."""

from __future__ import annotations

import json

import trio

from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .conftest import Daemon
from .test_twilio import call_with_stream, cli_json, twilio_daemon, wait_call

STREAMING = """
[streaming]
enabled = true
preStartTimeoutMs = 2000
"""


async def events(daemon: Daemon, call_id: str) -> list[dict]:
    out = await trio.to_thread.run_sync(lambda: daemon.cli(
        "tail", "--since", "all", "--no-follow", "--json", "--call-id", call_id,
        check=True).stdout)
    return [e for e in map(json.loads, out.splitlines()) if "data" in e]


async def test_keys_sent_during_a_stream_come_back_to_a_new_stream() -> None:
    with trio.fail_after(60):
        callee = CalleeScript(replies=[], stream_audio=True)
        async with twilio_daemon(callee, extra_config=STREAMING) as (daemon, sim):
            greeting = "Hi, the clinic here."
            call_id, sid, first = await call_with_stream(daemon, sim, greeting)
            await wait_call(daemon, call_id,
                            lambda c: [t["text"] for t in c["transcript"]] == [greeting],
                            "the greeting over the stream")
            assert await cli_json(daemon, "dtmf", "--call-id", call_id,
                                  "--digits", "1W2#") == {"success": True}
            call = sim.calls[sid]
            with trio.fail_after(10):
                await sim.wait_for(lambda: call.digits_played == ["1ww2#"]
                                   and call.stream is not None
                                   and call.stream.token != first.token)
            # the new stream is the call's voice: speech goes over it, not through <Say>
            assert await cli_json(daemon, "speak", "--call-id", call_id,
                                  "--message", "Thanks.") == {"success": True}
            assert call.spoken == []
            streams = [e["data"]["event"] for e in await events(daemon, call_id)
                       if e["type"] == "call.stream"]
            assert streams[:3] == ["started", "stopped", "started"]
            status = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            assert [t["text"] for t in status["transcript"]] == [greeting, "Thanks."]
            assert status["endedAt"] is None and call.status == "in-progress"
