"""What the fake-Telnyx tests share: a webhook receiver that checks every Ed25519 signature
with ``cryptography`` (an independent check of the simulator's signing), the simulator served
next to it with an httpx client for its REST API (:func:`fake_telnyx`), and the REST calls the
tests make (:func:`dial`, :func:`action`).

Resource handling: :func:`fake_telnyx` owns the receiver's server, the simulator and the
client; leaving it closes all three (the receiver last).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.simulator.webhook_receiver import ReceiverBase, Reply, serve_receiver
from voicecall_cli.simulator.telnyx.simulator import (
    CalleeScript,
    TelnyxSimulator,
    run_telnyx_simulator,
)

API_KEY = "KEY0123456789ABCDEF_simulator"
CONNECTION_ID = "1494404757140276705"
CALLEE_NUMBER = "+15550001111"
OUR_NUMBER = "+15550002222"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class TelnyxReceived:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)["data"]

    @property
    def event_type(self) -> str:
        return self.data["event_type"]

    @property
    def payload(self) -> dict[str, Any]:
        return self.data["payload"]

    @property
    def attempt(self) -> int:
        return json.loads(self.body)["meta"]["attempt"]


class TelnyxReceiver(ReceiverBase[TelnyxReceived]):
    """Checks ``telnyx-signature-ed25519`` over ``f"{telnyx-timestamp}|"`` + the raw body with
    the simulator's public key; ``status(received)`` picks each answer's status code (a bad
    signature gets 403)."""

    def __init__(self, status: Callable[[TelnyxReceived], int] = lambda _: 200) -> None:
        super().__init__()
        self.status = status
        self.public_key = ""

    def events(self) -> list[str]:
        return [r.event_type for r in self.received]

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_key))
        try:
            key.verify(base64.b64decode(headers["telnyx-signature-ed25519"]),
                       f"{headers['telnyx-timestamp']}|".encode() + body)
        except (KeyError, InvalidSignature):
            return False
        return True

    def check(self, scope: dict[str, Any], headers: dict[str, str],
              body: bytes) -> TelnyxReceived:
        return TelnyxReceived(scope["path"], headers, body, self.verify(headers, body))

    def reply(self, received: TelnyxReceived) -> Reply:
        return self.status(received) if received.signature_valid else 403, [], b""


@asynccontextmanager
async def fake_telnyx(callee: CalleeScript | None = None,
                      status: Callable[[TelnyxReceived], int] = lambda _: 200,
                      ) -> AsyncIterator[tuple[TelnyxSimulator, TelnyxReceiver,
                                               httpx.AsyncClient]]:
    async with (serve_receiver(TelnyxReceiver(status)) as receiver,
                run_telnyx_simulator(api_key=API_KEY, connection_id=CONNECTION_ID,
                                     callee=callee) as sim,
                httpx.AsyncClient(base_url=f"{sim.base_url}/v2", trust_env=False,
                                  headers={"authorization": f"Bearer {API_KEY}"}) as api):
        receiver.public_key = sim.public_key
        sim.retry_delay_s = 0.05
        yield sim, receiver, api


async def dial(api: httpx.AsyncClient, receiver: TelnyxReceiver, **extra: Any) -> str:
    response = await api.post("/calls", json={
        "connection_id": CONNECTION_ID, "to": CALLEE_NUMBER, "from": OUR_NUMBER,
        "webhook_url": receiver.url("/telnyx/events"), "webhook_url_method": "POST",
        "client_state": b64("call-1"), "command_id": "dial-1", "timeout_secs": 30, **extra})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["call_control_id"].startswith("v3:")
    assert (data["is_alive"], data["record_type"]) == (False, "call")
    assert data["client_state"] == b64("call-1")
    return data["call_control_id"]


async def action(api: httpx.AsyncClient, call_id: str, name: str, **body: Any) -> httpx.Response:
    return await api.post(f"/calls/{call_id}/actions/{name}", json=body)
