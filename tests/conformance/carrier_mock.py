"""The ``mock`` carrier's harness for the conformance suite (see :mod:`.carriers`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from tests.conformance.harness import CalleePlan, CarrierHarness, Delivery
from tests.conformance.mock_tap import MockTap, origin, run_mock_tap
from tests.e2e.conftest import Daemon
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.mock.webhooks import encode_mock_event

MOCK_DAEMON_HANGUP_REASONS = frozenset({"hangup-bot", "timeout", "error"})


class MockHarness(CarrierHarness):
    """The ``mock`` provider: its carrier runs inside the daemon and talks to it only through
    webhooks, which :mod:`tests.conformance.mock_tap` relays and records (``publicUrl``).

    What the mock makes observable: every event its callee sends, and a daemon hang-up as the
    ``call.ended`` webhook the mock answers it with. It does not show what its callee heard or
    status queries (both in-process), and it ignores a second hang-up of an ended call, so a
    duplicate hang-up shows only on carriers that record REST requests.
    """

    name = "mock"
    signs_webhooks = False
    media = False
    ends_calls_offline = False
    why_not = {
        "signs_webhooks": "mock webhooks are unsigned by design (reference 4.4)",
        "media": "the mock carrier has no media streams",
        "ends_calls_offline": "the mock carrier's status answer follows only the provider call "
                              "id (reference 3.2); it cannot end a call while the daemon is down",
    }

    def __init__(self) -> None:
        self.tap: MockTap | None = None
        self.plan: CalleePlan | None = None

    @asynccontextmanager
    async def running(self, plan: CalleePlan) -> AsyncIterator[None]:
        self.plan = plan
        async with run_mock_tap() as tap:
            self.tap = tap
            yield

    def config(self, plan: CalleePlan) -> dict[str, Any]:
        return {"publicUrl": self._tap.base_url + "/voice/webhook",
                "mock": {"ringDelayMs": 50, "answerDelayMs": 50, "replyDelayMs": 80,
                         "replies": list(plan.replies)}}

    async def attach(self, daemon: Daemon) -> None:
        """Point the relay at the daemon's own listening URL (health's ``localUrl``, else the
        newest ``daemon.started`` event, which names the URL the daemon listens on)."""
        local = (await trio.to_thread.run_sync(daemon.health)).get("localUrl")
        if not local:
            out = await trio.to_thread.run_sync(lambda: daemon.cli(
                "tail", "--since", "all", "--no-follow", "--json", check=True).stdout)
            started = [e for e in map(json.loads, out.splitlines())
                       if e["type"] == "daemon.started"]
            local = started[-1]["data"]["webhookUrl"]
        self._tap.target = origin(local)

    async def place_inbound(self, from_: str) -> str:
        assert self.plan is not None
        pid = f"mock-in-{uuid.uuid4().hex[:12]}"
        for kind in (EventType.RINGING, EventType.ANSWERED):
            event = NormalizedEvent(type=kind, id=str(uuid.uuid4()), call_id=pid,
                                    timestamp=int(time.time() * 1000), provider_call_id=pid,
                                    direction="inbound", from_number=from_,
                                    to_number=self.plan.our_number)
            await self._tap.post("/voice/webhook", encode_mock_event(event))
        return pid

    def hangups(self, provider_call_id: str) -> int:
        return sum(1 for e in self._tap.events(provider_call_id)
                   if e.get("type") == "call.ended"
                   and e.get("reason") in MOCK_DAEMON_HANGUP_REASONS)

    def heard(self, provider_call_id: str) -> list[str] | None:
        return None  # the mock's callee hears in-process

    def recordings(self, provider_call_id: str) -> list[tuple[str, int]]:
        """The mock records in-process: what its call.recording webhooks reported."""
        return [(e["recordingUrl"], e["recordingDurationSec"])
                for e in self._tap.events(provider_call_id) if e.get("type") == "call.recording"]

    def status_queries(self, provider_call_id: str) -> int | None:
        return None  # answered in-process from the provider call id

    def dials(self) -> int:
        return len({e.get("providerCallId") for e in self._tap.events()
                    if e.get("type") == "call.ringing" and e.get("direction") != "inbound"})

    def activity(self) -> int:
        return len(self._tap.records)

    def keys_sent(self, provider_call_id: str) -> list[str] | None:
        return None  # the mock's callee hears in-process

    async def press(self, provider_call_id: str, digits: str) -> None:
        """One mock ``call.dtmf`` webhook per key, as a keypad sends them."""
        for digit in digits:
            event = NormalizedEvent(type=EventType.DTMF, id=str(uuid.uuid4()),
                                    call_id=provider_call_id,
                                    timestamp=int(time.time() * 1000),
                                    provider_call_id=provider_call_id, digits=digit)
            await self._tap.post("/voice/webhook", encode_mock_event(event))

    def delivery_with(self, provider_call_id: str, text: str) -> Delivery:
        tap = self._tap
        for record in tap.records:
            if any(e.get("transcript") == text and e.get("providerCallId") == provider_call_id
                   for e in record.events):
                assert tap.target is not None
                return Delivery(tap.target + record.path, record.body,
                                {"content-type": record.headers["content-type"]},
                                record.response)
        raise AssertionError(f"no mock webhook carried {text!r}")

    def forgeries(self, genuine: Delivery, from_: str) -> dict[str, Delivery]:
        raise NotImplementedError(self.why_not["signs_webhooks"])

    @property
    def _tap(self) -> MockTap:
        assert self.tap is not None, "use inside running()"
        return self.tap
