"""Twilio's harness for the conformance suite (see :mod:`.carriers`): Programmable Voice and
Media Streams through the Twilio simulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import trio

from tests.conformance.harness import CalleePlan, Delivery, MediaCaller, SimulatedCarrier
from tests.conformance.stream_caller import StreamCaller
from tests.e2e.conftest import Daemon
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream
from voicecall_cli.simulator.twilio.simulator import CalleeScript, run_twilio_simulator

TWILIO_SID = "AC" + "c0" * 16
TWILIO_TOKEN = "conformance-auth-token-0123456789"


class TwilioHarness(SimulatedCarrier):
    """Twilio Programmable Voice + Media Streams, through the Twilio simulator (webhooks signed
    with the twilio SDK's RequestValidator)."""

    name = "twilio"
    signs_webhooks = True
    media = True
    ends_calls_offline = True

    def simulate(self, replies: list[str]) -> AbstractAsyncContextManager[Any]:
        return run_twilio_simulator(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN,
                                    callee=CalleeScript(replies=replies, **self.CALLEE_TIMINGS))

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

    def is_status_path(self, path: str, provider_call_id: str) -> bool:
        return path.endswith(f"/Calls/{provider_call_id}.json")

    def is_dial_path(self, path: str) -> bool:
        return path.endswith("/Calls.json")

    def keys_sent(self, provider_call_id: str) -> list[str] | None:
        return list(self.sim.calls[provider_call_id].digits_played)

    async def press(self, provider_call_id: str, digits: str) -> None:
        """Keys reach Twilio's app through a listening ``<Gather input="dtmf">`` (or as
        stream frames, see ``media_caller``)."""
        call = self.sim.calls[provider_call_id]
        await self.sim.wait_for(lambda: call.listening_keys)
        self.sim.press(provider_call_id, digits)

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
            caller = StreamCaller(stream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller.follow)
                yield caller
                nursery.cancel_scope.cancel()


def _twilio_headers(url: str, params: Mapping[str, str], token: str) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    return {"content-type": "application/x-www-form-urlencoded; charset=UTF-8",
            "x-twilio-signature": RequestValidator(token).compute_signature(url, dict(params))}
