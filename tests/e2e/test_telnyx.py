"""Telnyx end to end: a real daemon process against the Telnyx simulator, driven by the CLI.

What the provider conformance suite does not already cover for every carrier: Telnyx's own
delivery habits (an event delivered twice), its transcription turns without a stream, and
caller audio that arrives out of order on the media stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from voicecall_cli.simulator.telnyx.simulator import CalleeScript, run_telnyx_simulator

from .conftest import Daemon, carrier_daemon, cli_json, until

API_KEY = "KEYe2e0123456789"
CONNECTION = "1494404757140276705"
GREETING = "Hi, this is the clinic calling."

CONFIG = """\
provider = "telnyx"
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
[telnyx]
apiKey = "{key}"
connectionId = "{connection}"
publicKey = "{public}"
apiBaseUrl = "{api}"
"""

STREAMING = """
[streaming]
enabled = true
sttProvider = "scripted"
scriptedTranscripts = ["First words.", "Second words."]
silenceDurationMs = 300
"""


@asynccontextmanager
async def telnyx_daemon(callee: CalleeScript, extra: str = "",
                        ) -> AsyncIterator[tuple[Daemon, object]]:
    async with run_telnyx_simulator(api_key=API_KEY, connection_id=CONNECTION,
                                    callee=callee) as sim:
        def config(store: Path) -> str:
            return CONFIG.format(store=store, greeting=GREETING, key=API_KEY,
                                 connection=CONNECTION, public=sim.public_key,
                                 api=sim.base_url) + extra

        async with carrier_daemon(config, "vctx") as daemon:
            sim.connection_webhook_url = (await trio.to_thread.run_sync(daemon.health)
                                          )["webhookUrl"]
            yield daemon, sim


async def test_a_call_answered_delivered_twice_is_greeted_once() -> None:
    with trio.fail_after(40):
        async with telnyx_daemon(CalleeScript(replies=["Ten works."])) as (daemon, sim):
            sim.duplicate_events = {"call.answered"}
            call_id = (await cli_json(daemon, "call", "--message", GREETING))["callId"]
            turn = await cli_json(daemon, "continue", "--call-id", call_id,
                                  "--message", "Does ten work?")
            assert turn == {"success": True, "transcript": "Ten works."}
            call = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
            [telnyx_call] = sim.calls.values()
            assert telnyx_call.event_types.count("call.answered") == 2  # really sent twice
            assert telnyx_call.spoken == [GREETING, "Does ten work?"]  # greeted once
            assert [t["text"] for t in call["transcript"]] == [GREETING, "Does ten work?",
                                                               "Ten works."]
            events = (await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True))).stdout
            assert events.count('"call.answered"') <= 1


async def test_an_inbound_caller_is_answered_then_greeted() -> None:
    with trio.fail_after(40):
        async with telnyx_daemon(CalleeScript()) as (_daemon, sim):
            pid = await sim.place_inbound(from_="+15550003333", to="+15550009999")
            await until(lambda: GREETING in sim.calls[pid].spoken, "the greeting")
            call = sim.calls[pid]
            answers = [c for c in call.commands if c.action == "answer"]
            assert len(answers) == 1 and not answers[0].error
            assert call.commands.index(answers[0]) == 0  # answered before anything else
            assert call.hangups == 0


async def test_a_streamed_conversation_with_reordered_caller_audio() -> None:
    """Telnyx does not keep frame order; every few frames arrive swapped. The caller is still
    heard, turn by turn."""
    callee = CalleeScript(stream_audio=True, reorder_every=3, reply_seconds=0.8,
                          reply_delay_s=0.2)
    with trio.fail_after(60):
        async with telnyx_daemon(callee, STREAMING) as (daemon, sim):
            call_id = (await cli_json(daemon, "call", "--message", "Hi."))["callId"]
            first = await cli_json(daemon, "continue", "--call-id", call_id,
                                   "--message", "Question one?")
            second = await cli_json(daemon, "continue", "--call-id", call_id,
                                    "--message", "Question two?")
            assert (first["transcript"], second["transcript"]) == ("First words.",
                                                                   "Second words.")
            [telnyx_call] = sim.calls.values()
            assert telnyx_call.spoken == []  # everything went over the stream
            assert not telnyx_call.errors
