"""Inbound calls on the mock carrier, on a daemon that has placed no call yet (issue #14 item
15): the carrier knows where to send its webhooks from start-up, so an inbound call can be
ended by ``end`` and by its max-duration timer before any outbound call was placed."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import trio

from .conftest import BASE_CONFIG, Daemon, carrier_daemon, cli_json

CALLER = "+15550002222"


def inbound_config(max_duration: int):
    def config(store: Path) -> str:
        return 'inboundPolicy = "open"\n' + BASE_CONFIG.format(max_duration=max_duration,
                                                                store=store)
    return config


async def ring_in(daemon: Daemon) -> str:
    """A caller rings our number and is answered (the carrier's webhooks); their call id."""
    pid = f"mock-in-{uuid.uuid4().hex[:12]}"
    url = daemon.health()["webhookUrl"]
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        for kind in ("call.ringing", "call.answered"):
            event = {"type": kind, "id": str(uuid.uuid4()), "callId": pid,
                     "timestamp": int(time.time() * 1000), "providerCallId": pid,
                     "direction": "inbound", "from": CALLER, "to": "+15550001111"}
            response = await http.post(url, content=json.dumps({"event": event}))
            assert response.status_code == 200, response.text
    calls = (await cli_json(daemon, "status"))["calls"]
    [call] = [c for c in calls if c["providerCallId"] == pid]
    assert call["direction"] == "inbound"
    return call["callId"]


async def wait_ended(daemon: Daemon, call_id: str) -> dict:
    with trio.fail_after(20):  # hang guard: the call ends within a second or two
        return await _wait_ended(daemon, call_id)


async def _wait_ended(daemon: Daemon, call_id: str) -> dict:
    while True:
        call = (await cli_json(daemon, "status", "--call-id", call_id))["call"]
        if call["endedAt"] is not None:
            return call
        await trio.sleep(0.05)


async def test_inbound_calls_end_by_end_and_by_max_duration_before_any_outbound_call() -> None:
    with trio.fail_after(60):
        async with carrier_daemon(inbound_config(2), "vcmin") as daemon:
            ended_by_user = await ring_in(daemon)
            proc = await trio.to_thread.run_sync(
                lambda: daemon.cli("end", "--call-id", ended_by_user, "--json", timeout=30))
            assert proc.returncode == 0, (proc.stdout, proc.stderr)
            assert json.loads(proc.stdout) == {"success": True}
            ended = await wait_ended(daemon, ended_by_user)
            assert (ended["state"], ended["endReason"]) == ("hangup-bot", "hangup-bot")

            timed = await ring_in(daemon)  # left alone: its max duration (2 s) ends it
            ended = await wait_ended(daemon, timed)
            assert (ended["state"], ended["endReason"]) == ("timeout", "timeout")
            assert (await cli_json(daemon, "status"))["calls"] == []
            assert "no webhook URL" not in daemon.log.read_text()
