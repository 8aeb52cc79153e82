"""Shared by the call-manager tests: a recording provider and a manager on a real store/bus.

The provider client stands in at the provider edge (the ProviderClient interface) and records
what the manager asks of it; provider events are fed as the webhook server would feed them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import trio

from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.daemon.bus import EventBus
from voicecall_cli.daemon.calls.manager import CallManager
from voicecall_cli.daemon.calls.service import new_call_manager, run_calls
from voicecall_cli.daemon.calls.settings import CallSettings
from voicecall_cli.daemon.clock import WallClock
from voicecall_cli.daemon.endpoints import DaemonEndpoints
from voicecall_cli.daemon.store import Store
from voicecall_cli.providers.base import (
    Capabilities,
    PlaceCallRequest,
    PlacedCall,
    Provider,
    ProviderCallStatus,
    ProviderClient,
    ProviderError,
)
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec


@dataclass
class RecordingCarrier(ProviderClient):
    name: str = "mock"
    log: list[tuple] = field(default_factory=list)
    fail_hangup: bool = False
    fail_listen: bool = False
    statuses: dict[str, ProviderCallStatus] = field(default_factory=dict)
    capabilities: Capabilities = field(default_factory=Capabilities)

    async def place_call(self, request: PlaceCallRequest) -> PlacedCall:
        self.log.append(("place", request.call_id, request.to_number))
        return PlacedCall(f"mock-{request.call_id}")

    async def hangup(self, call_id: str, provider_call_id: str, reason: str) -> None:
        self.log.append(("hangup", provider_call_id, reason))
        if self.fail_hangup:
            raise RuntimeError("carrier down")

    async def speak(self, call_id: str, provider_call_id: str, text: str) -> None:
        self.log.append(("play", call_id, text))

    async def start_listening(self, call_id: str, provider_call_id: str,
                              turn_token: str | None) -> None:
        self.log.append(("listen", call_id, turn_token))
        if self.fail_listen:
            raise ProviderError("twilio API error: 400 cannot listen")

    async def stop_listening(self, call_id: str, provider_call_id: str) -> None:
        self.log.append(("stop-listening", call_id))

    async def get_call_status(self, provider_call_id: str) -> ProviderCallStatus:
        return self.statuses.get(provider_call_id, ProviderCallStatus("live", raw="in-progress"))

    async def resume(self, call_id: str, provider_call_id: str) -> None:
        self.log.append(("resume", call_id))

    async def answer(self, call_id: str, provider_call_id: str) -> None:
        self.log.append(("answer", provider_call_id))

    def of(self, kind: str) -> list[tuple]:
        return [entry for entry in self.log if entry[0] == kind]


@dataclass
class Env:
    manager: CallManager
    carrier: RecordingCarrier
    store: Store
    bus: EventBus

    def event(self, kind: EventType, call_id: str, **kw) -> None:
        self.manager.handle_events([NormalizedEvent(
            type=kind, id=str(uuid.uuid4()), call_id=call_id, timestamp=self.manager.now_ms(),
            **kw)])

    def stored_types(self, call_id: str) -> list[str]:
        return [e["type"] for e in self.store.events_after(0, call_id)]


def open_env_factory(tmp_path: Path):
    async def open_env(settings: CallSettings, carrier: RecordingCarrier | None = None,
                       nursery: trio.Nursery | None = None) -> Env:
        store = Store.open(tmp_path / "state")
        clock = WallClock()
        holder: list[CallManager] = []
        bus = EventBus(store, lambda: holder[0].snapshot(), clock_ms=clock.now_ms)
        carrier = carrier or RecordingCarrier()
        provider = Provider("mock", carrier, MockWebhookCodec(), carrier.capabilities)
        endpoints = DaemonEndpoints()
        manager = new_call_manager(settings, store, bus, provider, clock, endpoints=endpoints)
        holder.append(manager)
        assert nursery is not None
        await nursery.start(run_calls, manager)
        endpoints.local_url = "http://127.0.0.1:1/voice/webhook"
        manager.resume_restored_calls()
        return Env(manager, carrier, store, bus)
    return open_env
