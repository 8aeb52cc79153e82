"""TelnyxClient against the fake Telnyx (a real loopback HTTP server) and a webhook receiver
that verifies and parses each delivery with the provider's own codec, sharing its state with
the client, as the daemon does.

Request bodies are compared with golden JSON (``fixtures/rest/*.json``) after the values that
change per run (command ids, call ids, tokens, URLs) are replaced by placeholders."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import hypercorn.trio
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypercorn.config import Config

from tests.asgi_fakes import header_map, read_body, serve_lifespan
from tests.providers.twilio.util import FakeEndpoints, FakeStreams
from voicecall_cli.core.events import NormalizedEvent
from voicecall_cli.providers.base import (
    PlaceCallRequest,
    ProviderCallStatus,
    ProviderError,
    WebhookRequest,
)
from voicecall_cli.providers.telnyx.rest import TelnyxClient, open_telnyx_client
from voicecall_cli.providers.telnyx.signature import load_public_key
from voicecall_cli.providers.telnyx.state import TelnyxState
from voicecall_cli.providers.telnyx.webhooks import TelnyxWebhookCodec
from voicecall_cli.simulator.telnyx.simulator import (
    CalleeScript,
    TelnyxSimulator,
    run_telnyx_simulator,
)

API_KEY = "KEYrest-test-0123456789abcdef"
CONNECTION = "1494404757140276705"
GOLDEN = Path(__file__).parent / "fixtures" / "rest"
UPDATE_GOLDEN = False  # set True once to rewrite the files after a deliberate change


@dataclass
class Receiver:
    """The daemon's webhook server in miniature: verify, parse, collect the events."""

    codec: TelnyxWebhookCodec
    events: list[NormalizedEvent] = field(default_factory=list)
    received_types: list[str] = field(default_factory=list)  # Telnyx's event_type, verified
    refused: int = 0
    base_url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = await read_body(receive)
        request = WebhookRequest("POST", self.base_url + scope["path"], scope["path"], {},
                                 header_map(scope), body, "127.0.0.1")
        now_ms = int(time.time() * 1000)
        verdict = self.codec.verify(request, now_ms)
        status = 401
        if verdict.ok and verdict.key:
            self.received_types.append(json.loads(body)["data"]["event_type"])
            self.events += self.codec.parse(request, verdict.key, now_ms).events
            status = 200
        else:
            self.refused += 1
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"OK"})


@dataclass
class Harness:
    sim: TelnyxSimulator
    client: TelnyxClient
    receiver: Receiver
    endpoints: FakeEndpoints
    streams: FakeStreams

    async def place(self, call_id: str = "call-1") -> str:
        placed = await self.client.place_call(PlaceCallRequest(
            call_id=call_id, from_number="+15550002222", to_number="+15550001111",
            mode="conversation"))
        return placed.provider_call_id

    def kinds(self, pid: str) -> list[str]:
        return [e.type.value for e in self.receiver.events if e.provider_call_id == pid]


@asynccontextmanager
async def harness(*, stream_url: str | None = None,
                  callee: CalleeScript | None = None) -> AsyncIterator[Harness]:
    key = Ed25519PrivateKey.generate()
    state = TelnyxState()
    async with run_telnyx_simulator(api_key=API_KEY, connection_id=CONNECTION,
                                    signing_key=key, callee=callee) as sim, \
            trio.open_nursery() as nursery:
        receiver = Receiver(TelnyxWebhookCodec(load_public_key(sim.public_key), state))
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        binds = await nursery.start(partial(hypercorn.trio.serve, receiver, config, mode="asgi"))
        receiver.base_url = binds[0].rstrip("/")
        endpoints = FakeEndpoints(webhook_url=receiver.base_url + "/voice/webhook",
                                  stream_url=stream_url)
        streams = FakeStreams()
        async with open_telnyx_client(api_key=API_KEY, connection_id=CONNECTION,
                                      api_base_url=sim.base_url, state=state,
                                      endpoints=endpoints, streams=streams,
                                      request_timeout_s=5) as client:
            yield Harness(sim, client, receiver, endpoints, streams)
        nursery.cancel_scope.cancel()


def normalised(body: Any, h: Harness) -> Any:
    """The request body with per-run values replaced by placeholders."""
    text = json.dumps(body, sort_keys=True, indent=2)
    for value, name in ((h.endpoints.webhook_url or "", "<webhook_url>"),):
        text = text.replace(value, name)
    data = json.loads(text)
    if isinstance(data, dict) and "command_id" in data:
        data["command_id"] = ("<uuid>" if len(data["command_id"]) == 36
                              else data["command_id"])
    return data


def check_golden(name: str, body: Any) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(body, sort_keys=True, indent=2) + "\n"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert json.loads(path.read_text()) == body, f"{name}: {text}"


def bodies(h: Harness, path_suffix: str) -> list[Any]:
    return [r.body for r in h.sim.requests if r.path.endswith(path_suffix)]


async def test_dial_without_a_stream() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            [body] = bodies(h, "/v2/calls")
            check_golden("dial", normalised(body, h))
            await h.sim.wait_for_status(pid, "answered")
            await h.sim.wait_for(lambda: "call.answered" in h.kinds(pid))
            assert h.kinds(pid)[:2] == ["call.initiated", "call.answered"]
            first = h.receiver.events[0]
            assert first.call_id == "call-1"  # client_state names our call


async def test_dial_with_a_stream_attaches_it() -> None:
    with trio.fail_after(10):
        async with harness(stream_url="wss://voice.example.com/voice/stream") as h:
            pid = await h.place("call-s")
            [body] = bodies(h, "/v2/calls")
            assert body["stream_auth_token"] == "token-for-call-s"  # minted for our call id
            assert h.streams.reserved == []  # an outbound stream takes no inbound slot
            check_golden("dial_streaming", normalised(body, h))
            request = await h.sim.wait_for_stream(pid)
            assert (request.url, request.token, request.bidirectional) == (
                "wss://voice.example.com/voice/stream", "token-for-call-s", True)


async def test_commands_bodies() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            await h.client.speak("call-1", pid, "Hello there.")
            await h.client.start_listening("call-1", pid, "turn-9")
            await h.client.stop_listening("call-1", pid)
            await h.client.hangup("call-1", pid, "hangup-bot")
            for action in ("speak", "transcription_start", "transcription_stop", "hangup"):
                [body] = bodies(h, f"/actions/{action}")
                check_golden(action, normalised(body, h))
            ids = [r.body["command_id"] for r in h.sim.requests if "/actions/" in r.path]
            assert len(set(ids)) == len(ids)  # every command has its own id


async def test_answer_body_carries_the_stream_and_a_stable_command_id() -> None:
    with trio.fail_after(10):
        async with harness(stream_url="wss://voice.example.com/voice/stream") as h:
            h.sim.connection_webhook_url = h.endpoints.webhook_url
            pid = await h.sim.place_inbound(from_="+15550003333", to="+15550002222")
            await h.sim.wait_for(lambda: "call.initiated" in h.kinds(pid))
            await h.client.answer("in-1", pid)
            await h.client.answer("in-1", pid)  # a second attempt never answers twice
            [first, second] = bodies(h, "/actions/answer")
            assert first == second
            assert h.streams.reserved == ["in-1", "in-1"]  # the slot is taken at the answer
            check_golden("answer", normalised(first, h))
            call = h.sim.calls[pid]
            assert [c.duplicate for c in call.commands if c.action == "answer"] == [False, True]
            await h.sim.wait_for(lambda: "call.answered" in h.kinds(pid))


async def test_speak_returns_when_telnyx_reports_the_speech_ended() -> None:
    slow = CalleeScript(say_seconds_per_char=0.02)  # 40 chars: 0.8 s
    with trio.fail_after(10):
        async with harness(callee=slow) as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            await h.client.speak("call-1", pid, "x" * 40)
            # Returned because the report came, not before it (no clock: a loaded machine
            # only makes the speech take longer).
            assert "call.speak.ended" in h.receiver.received_types
            assert h.sim.calls[pid].spoken == ["x" * 40]


async def test_a_transcript_carries_the_turn_token_of_its_listening_turn() -> None:
    with trio.fail_after(10):
        async with harness(callee=CalleeScript(replies=["Ten works."])) as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            await h.client.start_listening("call-1", pid, "turn-42")
            await h.sim.wait_for(lambda: any(e.is_final and e.transcript == "Ten works."
                                             for e in h.receiver.events))
            speech = [e for e in h.receiver.events if e.type.value == "call.speech"]
            assert [(e.transcript, e.is_final, e.turn_token, e.call_id) for e in speech] == [
                ("Ten", False, "turn-42", "call-1"),
                ("Ten works.", True, "turn-42", "call-1")]


async def test_a_server_error_is_retried_once_with_the_same_command_id() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            h.sim.fail_next_request(503, {"errors": [{"code": "10011", "title": "busy"}]})
            await h.client.start_listening("call-1", pid, None)
            attempts = [r for r in h.sim.requests if r.path.endswith("/transcription_start")]
            assert [r.status for r in attempts] == [503, 200]
            assert attempts[0].body["command_id"] == attempts[1].body["command_id"]


async def test_a_client_error_is_not_retried_and_names_the_status() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            h.sim.fail_next_request(400, {"errors": [{"code": "10015", "title": "Bad"}]})
            with pytest.raises(ProviderError, match=r"^Telnyx API error: 400 "):
                await h.client.start_listening("call-1", pid, None)
            assert len(bodies(h, "/transcription_start")) == 1


async def test_hangup_of_a_call_that_ended_or_is_unknown_is_no_error() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            h.sim.hang_up(pid)
            await h.sim.wait_ended(pid)
            await h.client.hangup("call-1", pid, "hangup-bot")  # 422 90018: already ended
            await h.client.hangup("call-x", "v3:unknown", "hangup-bot")  # 404
            assert [r.status for r in h.sim.requests if r.path.endswith("/hangup")] == [422, 404]


async def test_call_status() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            await h.sim.wait_for_status(pid, "answered")
            live = await h.client.get_call_status(pid)
            assert live.state == "live"
            h.sim.end_on_carrier(pid)
            assert (await h.client.get_call_status(pid)) == ProviderCallStatus(
                "ended", "completed", raw=(await h.client.get_call_status(pid)).raw)
            gone = await h.client.get_call_status("v3:never-existed")
            assert (gone.state, gone.end_reason) == ("ended", "completed")
            h.sim.fail_next_request(500, "oops", "text/plain")
            h.sim.fail_next_request(500, "oops", "text/plain")
            assert (await h.client.get_call_status(pid)).state == "unknown"


async def test_errors_never_show_the_api_key() -> None:
    with trio.fail_after(10):
        async with harness() as h:
            pid = await h.place()
            h.sim.fail_next_request(400, f"bad key {API_KEY}", "text/plain")
            with pytest.raises(ProviderError) as info:
                await h.client.start_listening("call-1", pid, None)
            assert API_KEY not in str(info.value) and "***" in str(info.value)


async def test_a_held_caller_who_is_gone_when_connected_gives_back_the_slot_it_was_given() -> None:
    with trio.fail_after(10):
        async with harness(stream_url="wss://voice.example.com/voice/stream") as h:
            h.sim.connection_webhook_url = h.endpoints.webhook_url
            h.streams.admitting = False  # every slot taken: the caller is answered on hold
            pid = await h.sim.place_inbound(from_="+15550003333", to="+15550002222")
            await h.sim.wait_for(lambda: "call.initiated" in h.kinds(pid))
            await h.client.answer("in-1", pid)
            assert h.client.held_calls() == [pid] and h.streams.reserved == []
            h.sim.hang_up(pid)
            await h.sim.wait_for(lambda: h.sim.calls[pid].ended)
            assert not await h.client.connect_held("in-1", pid)  # Telnyx: the call is over
            assert h.streams.reserved == ["in-1"] and h.streams.released == ["in-1"]
            assert h.client.held_calls() == []
