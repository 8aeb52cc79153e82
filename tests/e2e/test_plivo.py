"""Plivo end to end: a real daemon process against the Plivo simulator, driven by the CLI.

What the provider conformance suite does not already cover for every carrier: Plivo's own
ways. A call ended before it rings is cancelled by its RequestUUID; a conversation without a
stream is steered by transfers to our XML (GetInput turns whose prompt Plivo says); a second
inbound caller waits on hold until the stream slot frees. Every document the daemon served
must keep Plivo's XML rules (the simulator records each one it breaks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from voicecall_cli.simulator.plivo.simulator import CalleeScript, run_plivo_simulator

from .conftest import Daemon, carrier_daemon, cli_json, until

AUTH_ID = "MAE2E000000000000000"
AUTH_TOKEN = "e2e-plivo-auth-token-0123456789"
GREETING = "Hi, this is the clinic calling."

CONFIG = """\
provider = "plivo"
fromNumber = "+15550009999"
toNumber = "+15550001111"
store = "{store}"
inboundPolicy = "open"
inboundGreeting = "{greeting}"
[serve]
bind = "127.0.0.1"
port = 0
[outbound]
defaultMode = "conversation"
notifyHangupDelaySec = 0
[plivo]
authId = "{auth_id}"
authToken = "{auth_token}"
apiBaseUrl = "{api}"
"""

STREAMING = """
[streaming]
enabled = true
sttProvider = "scripted"
scriptedTranscripts = ["First words.", "Second words.", "Third words."]
silenceDurationMs = 300
maxInboundStreams = 1
"""


@asynccontextmanager
async def plivo_daemon(callee: CalleeScript, extra: str = "",
                       ) -> AsyncIterator[tuple[Daemon, object]]:
    async with run_plivo_simulator(auth_id=AUTH_ID, auth_token=AUTH_TOKEN,
                                   callee=callee) as sim:
        def config(store: Path) -> str:
            return CONFIG.format(store=store, greeting=GREETING, auth_id=AUTH_ID,
                                 auth_token=AUTH_TOKEN, api=sim.base_url) + extra

        async with carrier_daemon(config, "vcpl") as daemon:
            webhook = (await trio.to_thread.run_sync(daemon.health))["webhookUrl"]
            sim.answer_url, sim.hangup_url = webhook + "?flow=answer", webhook + "?flow=hangup"
            yield daemon, sim


async def test_a_conversation_without_a_stream_is_steered_by_transfers() -> None:
    with trio.fail_after(40):
        async with plivo_daemon(CalleeScript(replies=["Ten works.", "Nothing else."])
                                ) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", GREETING))["callId"]
            first = await cli_json(daemon, "continue", "--call-id", call_id,
                                   "--message", "Does ten work?")
            second = await cli_json(daemon, "continue", "--call-id", call_id,
                                    "--message", "Anything else?")
            assert (first["transcript"], second["transcript"]) == ("Ten works.",
                                                                   "Nothing else.")
            await cli_json(daemon, "end", "--call-id", call_id)
            [call] = sim.calls.values()
            assert call.spoken == [GREETING, "Does ten work?", "Anything else?"]
            assert call.xml_errors == [] and call.errors == []
            assert len(call.get_inputs) == 2  # one GetInput per turn, each with its token
            assert all("turnToken=" in action for action in call.get_inputs)
            assert call.hangups == 1 and call.hangup_source == "API Request"


async def test_a_call_ended_before_it_rings_is_cancelled_by_its_request() -> None:
    with trio.fail_after(40):
        async with plivo_daemon(CalleeScript(ring_delay_s=30)) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", GREETING))["callId"]
            status = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            request_uuid = status["providerCallId"]
            assert sim.find_call(request_uuid).status == "queued"
            await cli_json(daemon, "end", "--call-id", call_id)
            call = sim.find_call(request_uuid)
            await until(lambda: call.ended, "the cancelled call to end")
            assert call.status == "cancel" and call.ringing_ms is None  # it never rang
            cancels = [r for r in sim.requests
                       if r.method == "DELETE" and r.path.endswith(f"/Request/{request_uuid}/")]
            assert len(cancels) == 1
            ended = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            assert ended["state"] == "hangup-bot"


async def test_a_second_inbound_caller_holds_until_the_stream_slot_frees() -> None:
    callee = CalleeScript(stream_audio=True, reply_seconds=0.6, reply_delay_s=0.2)
    with trio.fail_after(60):
        async with plivo_daemon(callee, STREAMING) as (_daemon, sim):
            first = await sim.place_inbound(from_="+15550003333", to="+15550009999")
            await until(lambda: sim.calls[first].streams, "the first caller's stream")
            second = await sim.place_inbound(from_="+15550004444", to="+15550009999")
            await until(lambda: "Please hold while we connect you." in
                        sim.calls[second].spoken, "the hold message")
            assert not sim.calls[second].streams  # waiting: no stream yet
            sim.hang_up(first)
            await until(lambda: sim.calls[second].streams, "the second caller's stream", 30)
            for call in (sim.calls[first], sim.calls[second]):
                assert call.xml_errors == [] and call.errors == []
