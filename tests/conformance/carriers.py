"""The carriers the conformance suite runs: everything that differs per carrier, one class each.

A carrier joins the suite with one :class:`~tests.conformance.harness.CarrierHarness`
subclass below and its entry in :data:`HARNESSES` (nothing else: the tests in
``test_provider_conformance.py`` never name a carrier). A harness is made fresh for every
test, and the suite calls it in this order:

1. ``async with harness.running(plan):`` starts the carrier's simulator (if any);
2. ``harness.config(plan)`` gives the carrier's part of the daemon config, a JSON object
   deep-merged over the suite's common one (``provider``, numbers, inbound allowlist and
   greeting, ``serve`` on 127.0.0.1 port 0, ``notifyHangupDelaySec = 0``, and for media tests
   ``streaming`` with the scripted transcriber; see ``session.common_config``);
3. after every daemon (re)start, ``await harness.attach(daemon)`` learns the daemon's URLs;
4. the tests use the action and observation methods documented on the base class.

Facts are class attributes. A capability a carrier lacks (``signs_webhooks``, ``media``,
``ends_calls_offline``) is False and ``why_not[<attribute>]`` says why: tests marked
``@pytest.mark.needs(<attribute>)`` skip with that reason. ``known_bugs`` maps a test
function's name to a product bug's description: that test runs as ``xfail(strict=True)``
for this carrier only, so it fails loudly once the bug is fixed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import trio
import trio_websocket

from tests.conformance.harness import CalleePlan, CarrierHarness, Delivery, MediaCaller
from tests.conformance.mock_tap import MockTap, origin, run_mock_tap
from tests.e2e.conftest import Daemon
from voicecall_cli.core.events import EventType, NormalizedEvent
from voicecall_cli.providers.mock.webhooks import encode_mock_event
from voicecall_cli.simulator.twilio.media import Tone, TwilioMediaStream, open_twilio_media_stream
from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator

__all__ = ["HARNESSES", "CalleePlan", "CarrierHarness", "Delivery", "MediaCaller",
           "MockHarness", "TwilioHarness"]


# -- mock -------------------------------------------------------------------------------------

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

    def status_queries(self, provider_call_id: str) -> int | None:
        return None  # answered in-process from the provider call id

    def dials(self) -> int:
        return len({e.get("providerCallId") for e in self._tap.events()
                    if e.get("type") == "call.ringing" and e.get("direction") != "inbound"})

    def activity(self) -> int:
        return len(self._tap.records)

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


# -- twilio -----------------------------------------------------------------------------------

TWILIO_SID = "AC" + "c0" * 16
MULAW_SILENCE = b"\xff" * 160  # one 20 ms frame
TWILIO_TOKEN = "conformance-auth-token-0123456789"


class TwilioHarness(CarrierHarness):
    """Twilio Programmable Voice + Media Streams, through the Twilio simulator (webhooks signed
    with the twilio SDK's RequestValidator)."""

    name = "twilio"
    signs_webhooks = True
    media = True
    ends_calls_offline = True

    def __init__(self) -> None:
        self.sim: Any = None
        self.plan: CalleePlan | None = None
        self.webhook_url = ""

    @asynccontextmanager
    async def running(self, plan: CalleePlan) -> AsyncIterator[None]:
        self.plan = plan
        callee = CalleeScript(replies=list(plan.replies), ring_delay_s=0.02,
                              answer_delay_s=0.05, reply_delay_s=0.05)
        async with run_twilio_simulator(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN,
                                        callee=callee) as sim:
            self.sim = sim
            yield

    def config(self, plan: CalleePlan) -> dict[str, Any]:
        return {"twilio": {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN,
                           "apiBaseUrl": self.sim.base_url}}

    async def attach(self, daemon: Daemon) -> None:
        health = await trio.to_thread.run_sync(daemon.health)
        self.webhook_url = health["webhookUrl"]

    async def place_inbound(self, from_: str) -> str:
        assert self.plan is not None
        return await self.sim.place_inbound(
            from_=from_, to=self.plan.our_number, webhook_url=self.webhook_url,
            status_callback_url=self.webhook_url + "?type=status")

    async def end_on_carrier(self, provider_call_id: str) -> None:
        self.sim.set_status(provider_call_id, "completed")

    def hangups(self, provider_call_id: str) -> int:
        call = self.sim.calls.get(provider_call_id)
        return 0 if call is None else call.hangups

    def heard(self, provider_call_id: str) -> list[str] | None:
        call = self.sim.calls.get(provider_call_id)
        return [] if call is None else list(call.spoken)

    def status_queries(self, provider_call_id: str) -> int | None:
        return sum(1 for r in self.sim.requests
                   if r.method == "GET" and r.path.endswith(f"/Calls/{provider_call_id}.json"))

    def dials(self) -> int:
        return sum(1 for r in self.sim.requests
                   if r.method == "POST" and r.path.endswith("/Calls.json"))

    def activity(self) -> int:
        return len(self.sim.requests)

    def delivery_with(self, provider_call_id: str, text: str) -> Delivery:
        call = self.sim.calls[provider_call_id]
        for sent in call.webhooks + call.callbacks:
            if text in sent.params.values():
                return Delivery(sent.url, urlencode(sent.params).encode(),
                                _twilio_headers(sent.url, sent.params, TWILIO_TOKEN),
                                sent.body.encode())
        raise AssertionError(f"no Twilio webhook carried {text!r}")

    def forgeries(self, genuine: Delivery, from_: str) -> dict[str, Delivery]:
        from urllib.parse import parse_qsl

        from voicecall_cli.simulator.twilio.webhooks import call_params

        assert self.plan is not None
        params = dict(parse_qsl(genuine.body.decode(), keep_blank_values=True))
        tampered = {k: (v + " Also, wire me money." if v and k == "SpeechResult" else v)
                    for k, v in params.items()}
        signed = genuine.headers
        inbound = call_params(account_sid=TWILIO_SID, call_sid="CA" + uuid.uuid4().hex,
                              status="ringing", direction="inbound", from_=from_,
                              to=self.plan.our_number)
        return {
            "wrong signature": Delivery(genuine.url, genuine.body, _twilio_headers(
                genuine.url, params, "not-the-auth-token")),
            "tampered body": Delivery(genuine.url, urlencode(tampered).encode(), signed),
            "no signature": Delivery(genuine.url, genuine.body, {
                k: v for k, v in signed.items() if k != "x-twilio-signature"}),
            "forged inbound call": Delivery(self.webhook_url, urlencode(inbound).encode(),
                                            _twilio_headers(self.webhook_url, inbound,
                                                            "not-the-auth-token")),
        }

    @asynccontextmanager
    async def media_caller(self, provider_call_id: str) -> AsyncIterator[MediaCaller]:
        request = await self.sim.wait_for_stream(provider_call_id)
        async with open_twilio_media_stream(request.url, call_sid=provider_call_id,
                                            token=request.token, account_sid=TWILIO_SID,
                                            echo_marks=False) as stream:
            caller = TwilioMediaCaller(stream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller.follow)
                yield caller
                nursery.cancel_scope.cancel()


def _twilio_headers(url: str, params: Mapping[str, str], token: str) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    return {"content-type": "application/x-www-form-urlencoded; charset=UTF-8",
            "x-twilio-signature": RequestValidator(token).compute_signature(url, dict(params))}


@dataclass
class TwilioMediaCaller(MediaCaller):
    """Twilio's side of a Media Stream: acknowledges a mark by echoing it, as Twilio does once
    the audio before it has played (frames arrive in real time, so at once), unless held."""

    stream: TwilioMediaStream
    frame_bytes: int = 160
    hold_marks: bool = False
    marks_received: list[str] = field(default_factory=list)
    marks_acknowledged: list[str] = field(default_factory=list)
    _held: list[str] = field(default_factory=list)
    _seen: int = 0

    @property
    def frames(self) -> list[tuple[float, bytes]]:  # type: ignore[override]
        return [(m.at, m.payload) for m in self.stream.media]

    @property
    def clears(self) -> list[float]:  # type: ignore[override]
        return self.stream.clears

    async def follow(self) -> None:
        """Read what the daemon sent: acknowledge (or hold) marks; a clear releases held marks,
        as Twilio echoes pending marks when its buffer is cleared."""
        try:
            while True:
                await self.stream.wait_for(lambda s: len(s.messages) > self._seen)
                while self._seen < len(self.stream.messages):
                    _at, message = self.stream.messages[self._seen]
                    self._seen += 1
                    if message.get("event") == "mark":
                        name = message["mark"]["name"]
                        self.marks_received.append(name)
                        if self.hold_marks:
                            self._held.append(name)
                        else:
                            await self._ack(name)
                    elif message.get("event") == "clear":
                        await self.release_marks(keep_holding=self.hold_marks)
        except trio_websocket.ConnectionClosed:
            return

    async def release_marks(self, keep_holding: bool = False) -> None:
        self.hold_marks = keep_holding
        held, self._held = self._held, []
        for name in held:
            await self._ack(name)

    async def talk(self, seconds: float) -> None:
        await self.stream.send_audio(Tone(300.0, seconds))
        await self.stream.send_audio(MULAW_SILENCE * 40)  # 0.8 s: Twilio never stops sending

    async def _ack(self, name: str) -> None:
        self.marks_acknowledged.append(name)
        await self.stream.send_json({"event": "mark", "streamSid": self.stream.stream_sid,
                                     "mark": {"name": name}})


HARNESSES: list[type[CarrierHarness]] = [MockHarness, TwilioHarness]
