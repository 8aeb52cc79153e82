"""The inbound hold queue on Twilio (issue #14 items 17 and 19): a real daemon, the Twilio
simulator as the carrier (it runs the ``<Enqueue>``, fetches the hold music, follows REST
redirects and opens the media streams of connected callers), driven by the CLI.

With ``streaming.maxInboundStreams = 1``: the 2nd and 3rd callers wait on hold; when the 1st
hangs up the 2nd (the longest-waiting) is connected; the 3rd hangs up while waiting and leaves
the queue, so the next caller streams at once.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
import trio

from voicecall_cli.providers.twilio import twiml
from voicecall_cli.simulator.twilio.simulator import CalleeScript

from .conftest import Daemon
from .test_twilio import ALLOWED, cli_json, twilio_daemon

OUR_NUMBER = "+15550009999"
HOLD_CONFIG = """
[streaming]
enabled = true
preStartTimeoutMs = 5000
maxInboundStreams = 1
"""
HOLD_PROMPT = "All agents are currently busy. Please hold."


async def stream_events(daemon: Daemon, call_id: str) -> list[str]:
    """The ``call.stream`` events (started/stopped) of a call, from ``tail``."""
    proc = await trio.to_thread.run_sync(lambda: daemon.cli(
        "tail", "--since", "all", "--no-follow", "--json", "--call-id", call_id, timeout=30))
    lines = [json.loads(line) for line in proc.stdout.splitlines()][1:]
    return [e["data"]["event"] for e in lines if e["type"] == "call.stream"]


async def call_of(daemon: Daemon, provider_call_id: str) -> dict:
    """The daemon's call for a CallSid (active or ended)."""
    with trio.fail_after(15):
        while True:
            for call in (await cli_json(daemon, "calls"))["calls"]:
                if call["providerCallId"] == provider_call_id:
                    return call
            await trio.sleep(0.05)


async def until_streaming(daemon: Daemon, provider_call_id: str) -> dict:
    call = await call_of(daemon, provider_call_id)
    with trio.fail_after(15):
        while "started" not in await stream_events(daemon, call["callId"]):
            await trio.sleep(0.05)
    return call


async def hold_music_is_the_builders(daemon: Daemon) -> None:
    """Item 17: ``/voice/hold-music`` (the queue's waitUrl) serves the one builder's document,
    which is the reference's: Say (alice), then an endless Play of Twilio's hosted music."""
    local = urlsplit(daemon.health()["localUrl"])
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        for method in ("GET", "POST"):  # any method, no signature
            response = await http.request(method,
                                          f"{local.scheme}://{local.netloc}/voice/hold-music")
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/xml"
            assert response.text == twiml.hold_music()
    assert response.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        '<Say voice="alice">All agents are currently busy. Please hold.</Say>'
        f'<Play loop="0">{twiml.HOLD_MUSIC_URL}</Play></Response>')
    assert twiml.HOLD_MUSIC_URL.startswith("http://com.twilio.sounds.music.")


async def test_held_callers_are_connected_in_order_and_one_who_hangs_up_leaves() -> None:
    caller = CalleeScript(stream_audio=True, reply_delay_s=0.2, reply_seconds=0.3)
    with trio.fail_after(120):
        async with twilio_daemon(caller, extra_config=HOLD_CONFIG, policy="open") as (
                daemon, sim):
            webhook = daemon.health()["webhookUrl"]
            await hold_music_is_the_builders(daemon)

            async def ring(from_: str) -> str:
                return await sim.place_inbound(from_=from_, to=OUR_NUMBER, webhook_url=webhook)

            first = await ring(ALLOWED)
            await until_streaming(daemon, first)
            second = await ring("+15550004321")
            await sim.wait_for(lambda: sim.calls[second].queue is not None)
            third = await ring("+15550004322")
            await sim.wait_for(lambda: sim.calls[third].queue is not None)
            for waiting in (second, third):
                await sim.wait_for(lambda w=waiting: sim.calls[w].played)
                assert HOLD_PROMPT in sim.calls[waiting].spoken
                assert sim.calls[waiting].queue == "hold-queue"
                assert sim.calls[waiting].played == [twiml.HOLD_MUSIC_URL]
                assert sim.calls[waiting].stream is None

            sim.hang_up(first)  # the stream slot frees: the longest-waiting caller goes next
            with trio.fail_after(20):
                await sim.wait_for_stream(second)
            await until_streaming(daemon, second)
            assert sim.calls[second].queue_results == ["redirected"]
            assert sim.calls[third].stream is None and sim.calls[third].queue_results == []

            sim.hang_up(third)  # gives up while waiting: the call ends, the queue forgets them
            with trio.fail_after(15):
                while (ended := await call_of(daemon, third))["endedAt"] is None:
                    await trio.sleep(0.05)
            assert ended["endReason"] == "hangup-user"
            assert sim.calls[third].queue_results == ["hangup"]

            sim.hang_up(second)
            second_id = (await call_of(daemon, second))["callId"]
            with trio.fail_after(15):  # the daemon saw the slot free
                while "stopped" not in await stream_events(daemon, second_id):
                    await trio.sleep(0.05)
            fourth = await ring("+15550004323")  # nobody waits any more: streams at once
            with trio.fail_after(20):
                await sim.wait_for_stream(fourth)
            assert sim.calls[fourth].queue is None
            redirects = [r for r in sim.requests if r.get("Url") is not None]
            assert [r.path.rsplit("/", 1)[-1] for r in redirects] == [f"{second}.json"]
