"""Telnyx's harness for the conformance suite (see :mod:`.carriers`): Call Control v2 and media
streaming through the Telnyx simulator, whose webhooks are signed with an Ed25519 key made by
``cryptography`` (the daemon only ever gets the public half)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conformance.harness import CalleePlan, Delivery, MediaCaller, SimulatedCarrier
from tests.conformance.stream_caller import StreamCaller
from tests.e2e.conftest import Daemon
from voicecall_cli.simulator.telnyx.media import open_telnyx_media_stream
from voicecall_cli.simulator.telnyx.simulator import CalleeScript, run_telnyx_simulator

TELNYX_API_KEY = "KEYconformance0123456789"
TELNYX_CONNECTION = "1494404757140276705"
# Telnyx's window is 300 s either way. A forgery a whole minute outside it stays outside while
# it is sent and checked (one second over, with ``now`` truncated to whole seconds, was
# sometimes back inside the window by the time the daemon looked).
OUT_OF_WINDOW_S = 360


def _signed(key: Ed25519PrivateKey, body: bytes, timestamp: int) -> dict[str, str]:
    signature = base64.b64encode(key.sign(f"{timestamp}|".encode() + body)).decode()
    return {"content-type": "application/json", "user-agent": "telnyx-webhooks",
            "telnyx-timestamp": str(timestamp), "telnyx-signature-ed25519": signature}


class TelnyxHarness(SimulatedCarrier):
    """Telnyx Call Control v2 + media streaming, through the Telnyx simulator."""

    name = "telnyx"
    signs_webhooks = True
    media = True
    ends_calls_offline = True

    def __init__(self) -> None:
        super().__init__()
        self.key = Ed25519PrivateKey.generate()

    def simulate(self, replies: list[str]) -> AbstractAsyncContextManager[Any]:
        return run_telnyx_simulator(
            api_key=TELNYX_API_KEY, connection_id=TELNYX_CONNECTION, signing_key=self.key,
            callee=CalleeScript(replies=replies, **self.CALLEE_TIMINGS))

    def config(self, plan: CalleePlan) -> dict[str, Any]:
        return {"telnyx": {"apiKey": TELNYX_API_KEY, "connectionId": TELNYX_CONNECTION,
                           "publicKey": self.sim.public_key, "apiBaseUrl": self.sim.base_url}}

    async def attach(self, daemon: Daemon) -> None:
        """Learn the daemon's webhook URL and make it the connection's (the portal setting).
        A real daemon keeps its public URL across a restart; this one restarts on a new port,
        so the calls Telnyx holds are re-pointed at it, as a tunnel in front would do."""
        health = await trio.to_thread.run_sync(daemon.health)
        self.webhook_url = health["webhookUrl"]
        self.sim.connection_webhook_url = self.webhook_url
        for call in self.sim.calls.values():
            call.webhook_url = self.webhook_url

    async def place_inbound(self, from_: str) -> str:
        assert self.plan is not None
        return await self.sim.place_inbound(from_=from_, to=self.plan.our_number)

    async def end_on_carrier(self, provider_call_id: str) -> None:
        self.sim.end_on_carrier(provider_call_id)

    def is_status_path(self, path: str, provider_call_id: str) -> bool:
        return path == f"/v2/calls/{provider_call_id}"

    def is_dial_path(self, path: str) -> bool:
        return path == "/v2/calls"

    def keys_sent(self, provider_call_id: str) -> list[str] | None:
        return list(self.sim.calls[provider_call_id].dtmf_sent)

    async def press(self, provider_call_id: str, digits: str) -> None:
        """Telnyx reports every key as ``call.dtmf.received``, listening or not."""
        self.sim.press(provider_call_id, digits)

    def delivery_with(self, provider_call_id: str, text: str) -> Delivery:
        for sent in self.sim.calls[provider_call_id].webhooks:
            data = sent.payload.get("transcription_data") or {}
            if data.get("transcript") == text and data.get("is_final") and sent.ok:
                assert sent.url is not None
                return Delivery(sent.url, sent.body, dict(sent.headers),
                                sent.response_body.encode())
        raise AssertionError(f"no Telnyx webhook carried {text!r}")

    def forgeries(self, genuine: Delivery, from_: str) -> dict[str, Delivery]:
        assert self.plan is not None
        now = int(time.time())
        other = Ed25519PrivateKey.generate()
        tampered = genuine.body.replace(b'"transcript":"', b'"transcript":"Wire me money. ')
        assert tampered != genuine.body
        inbound = json.dumps({"data": {
            "record_type": "event", "event_type": "call.initiated", "id": str(uuid.uuid4()),
            "occurred_at": "2026-12-01T00:00:00Z", "payload": {
                "call_control_id": "v3:" + uuid.uuid4().hex, "call_leg_id": str(uuid.uuid4()),
                "call_session_id": str(uuid.uuid4()), "client_state": None,
                "connection_id": TELNYX_CONNECTION, "direction": "incoming", "from": from_,
                "to": self.plan.our_number, "state": "parked"}}}).encode()
        return {
            "wrong key": Delivery(genuine.url, genuine.body, _signed(other, genuine.body, now)),
            "tampered body": Delivery(genuine.url, tampered, genuine.headers),
            "no signature": Delivery(genuine.url, genuine.body, {
                k: v for k, v in genuine.headers.items() if k != "telnyx-signature-ed25519"}),
            "stale timestamp, right key": Delivery(
                genuine.url, genuine.body, _signed(self.key, genuine.body, now - OUT_OF_WINDOW_S)),
            "future timestamp, right key": Delivery(
                genuine.url, genuine.body, _signed(self.key, genuine.body, now + OUT_OF_WINDOW_S)),
            "forged inbound call": Delivery(self.webhook_url, inbound,
                                            _signed(other, inbound, now)),
        }

    @asynccontextmanager
    async def media_caller(self, provider_call_id: str) -> AsyncIterator[MediaCaller]:
        request = await self.sim.wait_for_stream(provider_call_id)
        call = self.sim.calls[provider_call_id]
        async with open_telnyx_media_stream(
                request.url, call_control_id=provider_call_id, token=request.token,
                client_state=call.client_state, from_=call.from_, to=call.to,
                echo_marks=False, bidirectional=request.bidirectional,
                reorder_every=25) as stream:
            caller = StreamCaller(stream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller.follow)
                yield caller
                nursery.cancel_scope.cancel()
