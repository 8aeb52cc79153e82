"""Twilio end to end: a real daemon process against the Twilio simulator, driven by the CLI.

The simulator (in this test's trio loop) is Twilio: it serves the REST API the daemon calls,
signs every webhook with twilio's RequestValidator and runs the TwiML the daemon answers with.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import trio

from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator

from .conftest import Daemon, carrier_daemon, cli_json

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "e2e-auth-token-0123456789abcdef"
ALLOWED = "+15550001234"

CONFIG = """\
provider = "twilio"
fromNumber = "+15550009999"
toNumber = "+15550001111"
maxConcurrentCalls = 3
store = "{store}"
inboundPolicy = "{policy}"
allowFrom = ["{allowed}"]
{top}
[serve]
bind = "127.0.0.1"
port = 0

[outbound]
defaultMode = "conversation"
notifyHangupDelaySec = 1

[twilio]
accountSid = "{sid}"
authToken = "{token}"
apiBaseUrl = "{api}"
"""


@asynccontextmanager
async def twilio_daemon(callee: CalleeScript | None = None, *, extra_config: str = "",
                        policy: str = "allowlist", top_config: str = ""
                        ) -> AsyncIterator[tuple[Daemon, object]]:
    callee = callee or CalleeScript(replies=["Ten works for me.", "Nothing else, thanks."])
    async with run_twilio_simulator(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                                    callee=callee) as sim:
        def config(store: Path) -> str:
            return CONFIG.format(store=store, allowed=ALLOWED, sid=ACCOUNT_SID,
                                 token=AUTH_TOKEN, api=sim.base_url, policy=policy,
                                 top=top_config) + extra_config

        async with carrier_daemon(config, "vctw") as daemon:
            yield daemon, sim


async def call_state(daemon: Daemon, call_id: str) -> dict:
    return (await cli_json(daemon, "status", "--call-id", call_id))["call"]


async def wait_call(daemon: Daemon, call_id: str, predicate, what: str) -> dict:
    with trio.fail_after(15):
        while True:
            call = await call_state(daemon, call_id)
            if predicate(call):
                return call
            await trio.sleep(0.05)


async def test_notify_call_is_spoken_by_twiml_and_completes() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            placed = await cli_json(daemon, "call", "--mode", "notify",
                                    "--message", "Your order has shipped.")
            call_id = placed["callId"]
            call = await call_state(daemon, call_id)
            sid = call["providerCallId"]
            assert sid.startswith("CA")
            done = await sim.wait_ended(sid)
            assert done.spoken == ["Your order has shipped."]  # said once, by the notify TwiML
            assert done.status == "completed" and done.hangups == 0
            ended = await wait_call(daemon, call_id, lambda c: c["endedAt"], "the end")
            assert ended["state"] == "completed"
            assert [t["text"] for t in ended["transcript"]] == ["Your order has shipped."]
            dial = [r for r in sim.requests
                    if r.method == "POST" and r.path.endswith("/Calls.json")]
            assert len(dial) == 1
            form = dial[0].form
            assert form["StatusCallbackEvent"] == ["initiated", "ringing", "answered",
                                                   "completed"]
            assert f"callId={call_id}" in form["Url"][0]
            assert "type=status" in form["StatusCallback"][0]


async def test_conversation_turn_returns_the_gather_transcript() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            placed = await cli_json(daemon, "call", "--message", "Hi, this is the clinic.")
            call_id = placed["callId"]
            call = await wait_call(daemon, call_id, lambda c: c["answeredAt"], "the answer")
            sid = call["providerCallId"]
            # continue at once: it must wait for the greeting instead of cutting it short.
            turn = await cli_json(daemon, "continue", "--call-id", call_id,
                                  "--message", "Does ten work?")
            assert turn == {"success": True, "transcript": "Ten works for me."}
            sim_call = sim.calls[sid]
            assert sim_call.spoken[:2] == ["Hi, this is the clinic.", "Does ten work?"]
            finished = [i for i, d in enumerate(sim_call.webhooks) if "sayDone=" in d.url]
            gathered = [i for i, d in enumerate(sim_call.webhooks) if "turnToken=" in d.url]
            assert finished and gathered and finished[0] < gathered[0]
            actions = sim.calls[sid].gather_actions
            assert actions and "turnToken=" in actions[-1]
            second = await cli_json(daemon, "continue", "--call-id", call_id,
                                    "--message", "Anything else?")
            assert second["transcript"] == "Nothing else, thanks."
            assert actions[-1] != sim.calls[sid].gather_actions[0]  # a fresh token per turn
            assert await cli_json(daemon, "end", "--call-id", call_id) == {"success": True}
            ended = await sim.wait_ended(sid)
            assert ended.hangups == 1
            final = await wait_call(daemon, call_id, lambda c: c["endedAt"], "the end")
            assert final["state"] == "hangup-bot"
            assert [(t["speaker"], t["text"]) for t in final["transcript"]][-4:] == [
                ("bot", "Does ten work?"), ("user", "Ten works for me."),
                ("bot", "Anything else?"), ("user", "Nothing else, thanks.")]


async def test_replayed_signed_webhook_changes_nothing() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            placed = await cli_json(daemon, "call", "--mode", "notify", "--message", "Hello.")
            sid = (await call_state(daemon, placed["callId"]))["providerCallId"]
            await sim.wait_ended(sid)
            await wait_call(daemon, placed["callId"], lambda c: c["endedAt"], "the end")
            before = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            rest_before = len(sim.requests)
            first = sim.calls[sid].webhooks[0]  # the signed answer webhook on the call Url
            signature = _signature(sim, first)
            async with httpx.AsyncClient() as http:
                again = await http.post(first.url, data=first.params,
                                        headers={"X-Twilio-Signature": signature})
            assert again.status_code == 200
            assert again.text == first.body  # the same TwiML as the first delivery got
            after = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            assert _events(before) == _events(after)
            assert len(sim.requests) == rest_before  # no carrier call either


async def test_bad_signature_is_rejected() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, _sim):
            url = daemon.health()["webhookUrl"]
            async with httpx.AsyncClient() as http:
                forged = await http.post(url, data={"CallSid": "CA1", "CallStatus": "ringing",
                                                    "Direction": "inbound", "From": ALLOWED},
                                         headers={"X-Twilio-Signature": "bm9wZQ=="})
                unsigned = await http.post(url, data={"CallSid": "CA1"})
            assert forged.status_code == 401 and unsigned.status_code == 401
            assert (await cli_json(daemon, "status"))["calls"] == []


async def test_inbound_allowlist_accepts_and_rejects_with_one_hangup() -> None:
    with trio.fail_after(60):
        async with twilio_daemon() as (daemon, sim):
            webhook = daemon.health()["webhookUrl"]
            status_cb = webhook + "?type=status"
            rejected = await sim.place_inbound(from_="+19995550000", to="+15550009999",
                                               webhook_url=webhook,
                                               status_callback_url=status_cb)
            await sim.wait_for(lambda: sim.calls[rejected].hangups >= 1)
            await trio.sleep(0.3)  # a second hang-up would come now if there were one
            assert sim.calls[rejected].hangups == 1
            accepted = await sim.place_inbound(from_=ALLOWED, to="+15550009999",
                                               webhook_url=webhook,
                                               status_callback_url=status_cb)
            with trio.fail_after(10):
                while not (calls := (await cli_json(daemon, "status"))["calls"]):
                    await trio.sleep(0.05)
            [call] = calls
            assert call["direction"] == "inbound" and call["from"] == ALLOWED
            assert call["providerCallId"] == accepted
            await sim.wait_for(lambda: any("help" in s for s in sim.calls[accepted].spoken))
            assert sim.calls[accepted].hangups == 0
            events = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            assert [e["type"] for e in _events(events)].count("call.rejected") == 1


async def test_restart_consults_twilio_before_restoring() -> None:
    with trio.fail_after(90):
        async with twilio_daemon() as (daemon, sim):
            live = (await cli_json(daemon, "call", "--message", "Hi there."))["callId"]
            gone = (await cli_json(daemon, "call", "--message", "Hello again."))["callId"]
            live_sid = (await wait_call(daemon, live, lambda c: c["answeredAt"], "answer")
                        )["providerCallId"]
            gone_sid = (await wait_call(daemon, gone, lambda c: c["answeredAt"], "answer")
                        )["providerCallId"]
            await trio.to_thread.run_sync(daemon.kill9)
            sim.set_status(gone_sid, "completed")  # it ended while the daemon was down
            checked_before = len(sim.requests)
            await trio.to_thread.run_sync(daemon.start)
            status_reads = {r.path.rsplit("/", 1)[-1] for r in sim.requests[checked_before:]
                            if r.method == "GET"}
            assert {f"{live_sid}.json", f"{gone_sid}.json"} <= status_reads
            assert (await call_state(daemon, gone))["state"] == "completed"
            assert (await call_state(daemon, live))["endedAt"] is None
            turn = await cli_json(daemon, "continue", "--call-id", live,
                                  "--message", "Still there?")
            assert turn["transcript"] in {"Ten works for me.", "Nothing else, thanks."}
            dials = [r for r in sim.requests if r.path.endswith("/Calls.json")]
            assert len(dials) == 2  # never dialled again


async def call_with_stream(daemon: Daemon, sim, message: str):
    """Place a call with ``message`` and wait until Twilio asks for its media stream; returns
    ``(call id, CallSid, the simulator's stream request)``."""
    call_id = (await cli_json(daemon, "call", "--message", message))["callId"]
    sid = (await wait_call(daemon, call_id, lambda c: c["providerCallId"], "dial")
           )["providerCallId"]
    return call_id, sid, await sim.wait_for_stream(sid)


def _signature(sim, delivery) -> str:
    from twilio.request_validator import RequestValidator

    return RequestValidator(AUTH_TOKEN).compute_signature(delivery.url, delivery.params)


def _events(ndjson: str) -> list[dict]:
    return [e for e in (json.loads(line) for line in ndjson.splitlines())
            if e["type"] not in ("snapshot", "heartbeat")]
