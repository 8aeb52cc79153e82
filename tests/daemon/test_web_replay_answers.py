"""A replay is never parsed again, however many deliveries came between (issue #14): the first
answer lives in the replay cache as long as the key does. The real webhook server on
loopback, the mock carrier's codec (its key is the body's digest)."""

from __future__ import annotations

import httpx
import trio

from tests.daemon.test_web import ringing, webhook_server
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec


class CountingCodec(MockWebhookCodec):
    """The mock codec; counts parses, and its first reply consumes state (as Twilio's stored
    notify TwiML or pending Gather do), so a second parse would answer differently."""

    def __init__(self) -> None:
        self.parsed: list[bytes] = []

    def parse(self, request, key, now_ms):
        self.parsed.append(request.body)
        reply = super().parse(request, key, now_ms)
        reply.body = b"<First/>" if len(self.parsed) == 1 else b"<Later/>"
        return reply


async def test_a_replay_after_1100_other_deliveries_is_answered_as_first_and_not_parsed():
    codec = CountingCodec()
    with trio.fail_after(60):
        async with webhook_server(codec=codec) as (info, deliveries), \
                httpx.AsyncClient() as client:
            first = await client.post(info.url, content=ringing("c0"))
            for n in range(1, 1101):
                assert (await client.post(info.url, content=ringing(f"c{n}"))).status_code \
                    == 200
            replay = await client.post(info.url, content=ringing("c0"))
    assert first.status_code == replay.status_code == 200
    assert replay.content == first.content == b"<First/>"
    assert codec.parsed.count(ringing("c0")) == 1
    assert len(deliveries) == 1101


async def test_a_replayed_malformed_body_is_refused_again_without_parsing():
    codec = CountingCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries), \
                httpx.AsyncClient() as client:
            answers = [await client.post(info.url, content=b"{not json") for _ in range(2)]
    assert [(r.status_code, r.text) for r in answers] == [(400, "Bad Request")] * 2
    assert codec.parsed == [b"{not json"] and deliveries == []
