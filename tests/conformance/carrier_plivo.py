"""Plivo's harness for the conformance suite (see :mod:`.carriers`): the Voice API, Plivo XML
and bidirectional audio streams through the Plivo simulator, whose webhooks are signed with
the plivo SDK's own V3 (and V2) functions."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

import trio
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3

from tests.conformance.harness import CalleePlan, Delivery, MediaCaller, SimulatedCarrier
from tests.conformance.stream_caller import StreamCaller
from tests.e2e.conftest import Daemon
from voicecall_cli.simulator.plivo.simulator import CalleeScript, run_plivo_simulator

PLIVO_AUTH_ID = "MACONFORMANCE0000000"
PLIVO_TOKEN = "conformance-plivo-auth-token-0123456789"


def _v3_headers(url: str, params: dict[str, str], token: str) -> dict[str, str]:
    nonce = secrets.token_hex(10)
    signature = get_signature_v3(token.encode(), construct_post_url(url, dict(params)).decode(),
                                 nonce.encode()).decode()
    return {"content-type": "application/x-www-form-urlencoded",
            "x-plivo-signature-v3": signature, "x-plivo-signature-v3-nonce": nonce}


class PlivoHarness(SimulatedCarrier):
    """Plivo Voice API + audio streams, through the Plivo simulator."""

    name = "plivo"
    signs_webhooks = True
    media = True
    ends_calls_offline = True

    def simulate(self, replies: list[str]) -> AbstractAsyncContextManager[Any]:
        return run_plivo_simulator(auth_id=PLIVO_AUTH_ID, auth_token=PLIVO_TOKEN,
                                   callee=CalleeScript(replies=replies, **self.CALLEE_TIMINGS))

    def config(self, plan: CalleePlan) -> dict[str, Any]:
        return {"plivo": {"authId": PLIVO_AUTH_ID, "authToken": PLIVO_TOKEN,
                          "apiBaseUrl": self.sim.base_url}}

    async def attach(self, daemon: Daemon) -> None:
        """Learn the daemon's webhook URL and make it the Plivo application's (the console
        setting). A real daemon keeps its public URL across a restart; this one restarts on
        a new port, so the calls Plivo holds are re-pointed at it, as a tunnel in front
        would do."""
        health = await trio.to_thread.run_sync(daemon.health)
        old, self.webhook_url = self.webhook_url, health["webhookUrl"]
        self.sim.answer_url = self.webhook_url + "?flow=answer"
        self.sim.hangup_url = self.webhook_url + "?flow=hangup"
        if old and old != self.webhook_url:
            for call in self.sim.calls.values():
                for name in ("answer_url", "hangup_url", "ring_url"):
                    value = getattr(call, name, None)
                    if isinstance(value, str) and value.startswith(old):
                        setattr(call, name, self.webhook_url + value[len(old):])

    async def place_inbound(self, from_: str) -> str:
        assert self.plan is not None
        return await self.sim.place_inbound(from_=from_, to=self.plan.our_number)

    async def end_on_carrier(self, provider_call_id: str) -> None:
        self.sim.end_on_carrier(provider_call_id)

    def hangups(self, provider_call_id: str) -> int:
        call = self.sim.find_call(provider_call_id)
        return 0 if call is None else call.hangups

    def heard(self, provider_call_id: str) -> list[str] | None:
        call = self.sim.find_call(provider_call_id)
        if call is not None:
            assert not call.xml_errors, call.xml_errors  # every document kept Plivo's rules
        return [] if call is None else list(call.spoken)

    def is_status_path(self, path: str, provider_call_id: str) -> bool:
        call = self.sim.find_call(provider_call_id)
        ids = {provider_call_id} | ({call.call_uuid, call.request_uuid} if call else set())
        return any(path == f"/v1/Account/{PLIVO_AUTH_ID}/Call/{i}/" for i in ids if i)

    def is_dial_path(self, path: str) -> bool:
        return path == f"/v1/Account/{PLIVO_AUTH_ID}/Call/"

    def keys_sent(self, provider_call_id: str) -> list[str] | None:
        return list(self.sim.calls[provider_call_id].dtmf_sent)

    async def press(self, provider_call_id: str, digits: str) -> None:
        """Keys reach the app through a listening ``<GetInput inputType="dtmf">``."""
        call = self.sim.calls[provider_call_id]
        await self.sim.wait_for(lambda: call.listening_keys)
        self.sim.press(provider_call_id, digits)

    def delivery_with(self, provider_call_id: str, text: str) -> Delivery:
        call = self.sim.find_call(provider_call_id)
        assert call is not None
        for sent in call.webhooks:
            if sent.params.get("Speech") == text and sent.ok:
                return Delivery(sent.request_url, sent.body, dict(sent.headers),
                                sent.response_body.encode())
        raise AssertionError(f"no Plivo webhook carried {text!r}")

    def forgeries(self, genuine: Delivery, from_: str) -> dict[str, Delivery]:
        assert self.plan is not None
        params = dict(parse_qsl(genuine.body.decode(), keep_blank_values=True))
        tampered = {k: (v + " Also, wire me money." if k == "Speech" else v)
                    for k, v in params.items()}
        inbound_url = self.webhook_url + "?flow=answer"
        inbound = {"CallUUID": str(uuid.uuid4()), "From": from_.lstrip("+"),
                   "To": self.plan.our_number.lstrip("+"), "Direction": "inbound",
                   "CallStatus": "in-progress", "Event": "StartApp"}
        v3_only = {k: v for k, v in genuine.headers.items() if not k.startswith("x-plivo")}
        return {
            "wrong token": Delivery(genuine.url, genuine.body,
                                    _v3_headers(genuine.url, params, "not-the-auth-token")),
            "tampered body": Delivery(genuine.url, urlencode(tampered).encode(),
                                      genuine.headers),
            "no signature": Delivery(genuine.url, genuine.body, v3_only),
            "forged inbound call": Delivery(inbound_url, urlencode(inbound).encode(),
                                            _v3_headers(inbound_url, inbound,
                                                        "not-the-auth-token")),
        }

    @asynccontextmanager
    async def media_caller(self, provider_call_id: str) -> AsyncIterator[MediaCaller]:
        await self.sim.wait_for_stream(provider_call_id)
        async with self.sim.connect_stream(provider_call_id, echo_marks=False) as stream:
            caller = StreamCaller(stream)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(caller.follow)
                yield caller
                nursery.cancel_scope.cancel()
