"""The webhook server on real hypercorn (loopback, port 0): pipeline order, limits, status codes.

Peers are real: httpx or a raw h11 client over a TCP socket for stalled bodies. Codecs other
than the mock one are small stand-ins implementing the WebhookCodec interface.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
from contextlib import asynccontextmanager
from functools import partial

import h11
import httpx
import pytest
import trio

from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.base import StaticPage, Verification, WebhookReply, WebhookRequest
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.replay import ReplayCache

NOW_MS = 1_700_000_000_000
PATH = "/voice/webhook"


def ringing(call_id: str = "c1", **extra) -> bytes:
    return json.dumps({"event": {"type": "call.ringing", "callId": call_id, **extra}}).encode()


class RecordingCodec(MockWebhookCodec):
    """The mock codec, plus a record of what the server asked of it."""

    def __init__(self) -> None:
        self.verified: list[WebhookRequest] = []

    def verify(self, request: WebhookRequest, now_ms: int) -> Verification:
        self.verified.append(request)
        return super().verify(request, now_ms)


class SignedCodec(MockWebhookCodec):
    """A carrier that signs: header ``x-test-signature`` must be present and say ``good``."""

    name = "signed"
    static_pages = (StaticPage("/voice/hold-music", "text/xml", b"<Response><Play/></Response>"),)

    def __init__(self) -> None:
        self.verify_calls = 0

    def has_auth_headers(self, headers):
        return "x-test-signature" in headers

    def verify(self, request, now_ms):
        self.verify_calls += 1
        if request.headers.get("x-test-signature") != "good":
            return Verification(ok=False, reason="bad signature")
        return Verification(ok=True, key="signed:" + request.body.decode())


class BrokenCodec(MockWebhookCodec):
    def parse(self, request, key, now_ms):
        raise RuntimeError("codec bug")


class NoContentCodec(MockWebhookCodec):
    def parse(self, request, key, now_ms):
        return WebhookReply(events=[], status=204, body=b"", headers={})


@asynccontextmanager
async def webhook_server(**overrides):
    """Serve on 127.0.0.1:0; yields (info, deliveries) where deliveries records on_events."""
    deliveries: list[list] = []
    options = dict(bind="127.0.0.1", port=0, path=PATH, codec=MockWebhookCodec(),
                   on_events=deliveries.append, replay=ReplayCache(), clock_ms=lambda: NOW_MS)
    options.update(overrides)
    async with trio.open_nursery() as nursery:
        info = await nursery.start(partial(serve_webhooks, **options))
        yield info, deliveries
        nursery.cancel_scope.cancel()


def url_for(info, path: str) -> str:
    return f"http://127.0.0.1:{info.port}{path}"


class RawClient:
    """One HTTP/1.1 connection driven by hand, so a test can stall the request body."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send_head(self, headers: dict[str, str], path: str = PATH) -> None:
        headers = {"host": "127.0.0.1", **headers}
        await self.stream.send_all(self.conn.send(h11.Request(
            method="POST", target=path, headers=list(headers.items()))))

    async def send_body(self, data: bytes, end: bool = True) -> None:
        await self.stream.send_all(self.conn.send(h11.Data(data=data)))
        if end:
            await self.stream.send_all(self.conn.send(h11.EndOfMessage()))

    async def response(self) -> tuple[int, bytes]:
        status, body = None, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.stream.receive_some(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return status, body


async def test_reports_the_real_port_and_webhook_url():
    with trio.fail_after(10):
        async with webhook_server(path="voice/webhook/") as (info, _):
            assert info.port != 0
            assert info.host == "127.0.0.1"
            assert info.url == f"http://127.0.0.1:{info.port}/voice/webhook"


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
async def test_ipv6_url_has_brackets():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with trio.fail_after(10):
        async with webhook_server(bind="::1") as (info, _):
            assert info.url == f"http://[::1]:{info.port}/voice/webhook"
            assert info.host == "::1"


async def test_port_in_use_is_a_plain_os_error_before_readiness():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                with pytest.raises(OSError) as raised:
                    await nursery.start(partial(
                        serve_webhooks, bind="127.0.0.1", port=taken.getsockname()[1],
                        path=PATH, codec=MockWebhookCodec(), on_events=lambda events: None,
                        replay=ReplayCache(), clock_ms=lambda: NOW_MS))
    assert raised.value.errno == errno.EADDRINUSE


async def test_delivers_events_and_replies_with_the_codec_reply():
    codec = RecordingCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries), httpx.AsyncClient() as c:
            r = await c.post(info.url + "?callId=abc", content=ringing(),
                             headers={"X-Custom": "1"})
            assert (r.status_code, r.text) == (200, '{"ok":true}')
            assert r.headers["content-type"] == "application/json"
    [[event]] = deliveries
    assert (event.type.value, event.call_id, event.timestamp) == ("call.ringing", "c1", NOW_MS)
    assert event.dedupe_key.startswith("mock:")
    [request] = codec.verified
    assert request.url == f"http://127.0.0.1:{info.port}/voice/webhook?callId=abc"
    assert request.query == {"callId": "abc"}
    assert request.headers["x-custom"] == "1"
    assert request.remote_addr == "127.0.0.1"


async def test_replay_gets_the_normal_reply_but_no_side_effects():
    with trio.fail_after(10):
        async with webhook_server() as (info, deliveries), httpx.AsyncClient() as c:
            first = await c.post(info.url, content=ringing())
            again = await c.post(info.url, content=ringing())
            other = await c.post(info.url, content=ringing("c2"))
    assert [r.status_code for r in (first, again, other)] == [200, 200, 200]
    assert again.text == first.text == '{"ok":true}'
    assert [[e.call_id for e in d] for d in deliveries] == [["c1"], ["c2"]]


class OneShotReplyCodec(MockWebhookCodec):
    """A codec whose reply consumes state, as Twilio's stored notify TwiML does."""

    def __init__(self) -> None:
        self.stored = ["<Say>served once</Say>"]
        self.parses = 0

    def parse(self, request, key, now_ms):
        self.parses += 1
        reply = super().parse(request, key, now_ms)
        reply.body = (self.stored.pop() if self.stored else "<Empty/>").encode()
        return reply


async def test_a_replay_gets_the_first_reply_again_without_parsing():
    codec = OneShotReplyCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries), \
                httpx.AsyncClient() as c:
            first = await c.post(info.url, content=ringing())
            again = await c.post(info.url, content=ringing())
    assert first.text == again.text == "<Say>served once</Say>"
    assert codec.parses == 1 and len(deliveries) == 1


async def test_lookalike_paths_are_404_and_never_reach_the_codec():
    codec = RecordingCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries), httpx.AsyncClient() as c:
            for path in ("/voice/webhook-evil", "/voice/webhooks", "/voice"):
                r = await c.post(url_for(info, path), content=ringing())
                assert r.status_code == 404, path
            trailing = await c.post(url_for(info, "/voice/webhook/"), content=ringing())
    assert codec.verified and len(codec.verified) == 1  # only the trailing-slash form
    assert trailing.status_code == 200
    assert len(deliveries) == 1


async def test_wrong_method_is_405():
    with trio.fail_after(10):
        async with webhook_server() as (info, _), httpx.AsyncClient() as c:
            r = await c.get(info.url)
    assert (r.status_code, r.text) == (405, "Method Not Allowed")
    assert r.headers["allow"] == "POST"


async def test_missing_signature_headers_are_401_before_the_body_is_read():
    codec = SignedCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries):
            client = await RawClient.connect(info.port)
            await client.send_head({"content-length": "100"})  # body never sent
            assert await client.response() == (401, b"Unauthorized")
    assert codec.verify_calls == 0
    assert deliveries == []


async def test_bad_signature_is_401_and_good_one_passes():
    codec = SignedCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, deliveries), httpx.AsyncClient() as c:
            bad = await c.post(info.url, content=ringing(), headers={"x-test-signature": "no"})
            good = await c.post(info.url, content=ringing(),
                                headers={"x-test-signature": "good"})
    assert (bad.status_code, bad.text) == (401, "Unauthorized")
    assert good.status_code == 200
    assert len(deliveries) == 1


async def test_skipping_signatures_still_dedupes_exact_duplicates():
    codec = SignedCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec, skip_signature_verification=True) as (
                info, deliveries), httpx.AsyncClient() as c:
            replies = [await c.post(info.url, content=ringing()) for _ in range(2)]
    assert [r.status_code for r in replies] == [200, 200]
    assert codec.verify_calls == 0
    [[event]] = deliveries
    assert event.dedupe_key.startswith("signed:skip:")


async def test_declared_oversize_body_is_413_without_reading_it():
    with trio.fail_after(10):
        async with webhook_server() as (info, deliveries):
            client = await RawClient.connect(info.port)
            await client.send_head({"content-length": str(70 * 1024)})
            assert await client.response() == (413, b"Payload Too Large")
    assert deliveries == []


async def test_streamed_oversize_body_is_413_or_reset():
    async def seventy_kb():
        for _ in range(70):
            yield b"x" * 1024

    with trio.fail_after(10):
        async with webhook_server(max_body=16 * 1024) as (info, deliveries), \
                httpx.AsyncClient() as c:
            try:
                r = await c.post(info.url, content=seventy_kb())
            except httpx.TransportError:
                pass  # the server may close before the client finished sending
            else:
                assert (r.status_code, r.text) == (413, "Payload Too Large")
    assert deliveries == []


async def test_stalled_body_is_408_after_the_body_timeout():
    with trio.fail_after(10):
        async with webhook_server(body_timeout_s=0.2) as (info, deliveries):
            # Only a lower bound, taken before the server could start its timer: load can make
            # the 408 late, never early.
            started = trio.current_time()
            client = await RawClient.connect(info.port)
            await client.send_head({"content-length": "50"})
            await client.send_body(b'{"event":', end=False)
            assert await client.response() == (408, b"Request Timeout")
            assert trio.current_time() - started >= 0.2
    assert deliveries == []


async def test_ninth_concurrent_request_from_one_ip_is_429_and_the_eight_succeed():
    bodies = [ringing(f"c{i}") for i in range(9)]
    results: dict[int, tuple[int, bytes]] = {}
    first_answer = trio.Event()

    async def await_response(i: int, client: RawClient) -> None:
        results[i] = await client.response()
        first_answer.set()

    with trio.fail_after(10):
        async with webhook_server() as (info, deliveries):
            clients = []
            for body in bodies:
                client = await RawClient.connect(info.port)
                await client.send_head({"content-length": str(len(body))})
                clients.append(client)
            async with trio.open_nursery() as nursery:
                for i, client in enumerate(clients):
                    nursery.start_soon(await_response, i, client)
                await first_answer.wait()
                [rejected] = results
                assert results[rejected] == (429, b"Too Many Requests")
                for i, client in enumerate(clients):
                    if i != rejected:
                        await client.send_body(bodies[i])
    assert sorted(status for status, _ in results.values()) == [200] * 8 + [429]
    assert len(deliveries) == 8


async def test_malformed_body_is_400():
    with trio.fail_after(10):
        async with webhook_server() as (info, deliveries), httpx.AsyncClient() as c:
            r = await c.post(info.url, content=b"{not json")
    assert (r.status_code, r.text) == (400, "Bad Request")
    assert deliveries == []


async def test_codec_failure_is_500():
    with trio.fail_after(10):
        async with webhook_server(codec=BrokenCodec()) as (info, _), httpx.AsyncClient() as c:
            r = await c.post(info.url, content=ringing())
    assert (r.status_code, r.text) == (500, "Internal Server Error")


async def test_on_events_failure_is_logged_and_the_carrier_still_gets_its_reply(caplog):
    def explode(events):
        raise RuntimeError("manager bug")

    with trio.fail_after(10):
        async with webhook_server(on_events=explode) as (info, _), httpx.AsyncClient() as c:
            r = await c.post(info.url, content=ringing())
    assert (r.status_code, r.text) == (200, '{"ok":true}')
    assert "processing webhook events failed" in caplog.text


async def test_explicit_empty_reply_body_is_preserved():
    with trio.fail_after(10):
        async with webhook_server(codec=NoContentCodec()) as (info, _), \
                httpx.AsyncClient() as c:
            r = await c.post(info.url, content=ringing())
    assert (r.status_code, r.content) == (204, b"")


async def test_webhook_bodies_are_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    secret_number = "+15557654321"
    with trio.fail_after(10):
        async with webhook_server() as (info, _), httpx.AsyncClient() as c:
            await c.post(info.url, content=ringing(**{"from": secret_number}))
            await c.post(info.url, content=b'{"bad json ' + secret_number.encode())
    assert "call.ringing" in caplog.text
    assert secret_number not in caplog.text


async def test_the_providers_static_pages_answer_any_method_without_auth():
    codec = SignedCodec()
    with trio.fail_after(10):
        async with webhook_server(codec=codec) as (info, _), httpx.AsyncClient() as c:
            for method in ("GET", "POST"):
                r = await c.request(method, url_for(info, "/voice/hold-music"))
                assert r.status_code == 200
                assert r.headers["content-type"] == "text/xml"
                assert r.text == "<Response><Play/></Response>"
    assert codec.verify_calls == 0


async def test_a_provider_without_static_pages_has_no_hold_music():
    with trio.fail_after(10):
        async with webhook_server() as (info, _), httpx.AsyncClient() as c:
            r = await c.get(url_for(info, "/voice/hold-music"))
            assert r.status_code == 404


async def test_healthz_and_unknown_paths_go_to_the_app():
    with trio.fail_after(10):
        async with webhook_server() as (info, _), httpx.AsyncClient() as c:
            health = await c.get(url_for(info, "/healthz"))
            missing = await c.get(url_for(info, "/nope"))
    assert (health.status_code, health.json()) == (200, {"ok": True})
    assert missing.status_code == 404


@pytest.mark.hang_guard(60)
async def test_cancellation_stops_the_server_promptly_with_clients_connected(mock_clock):
    # trio's clock stands still (MockClock, no autojump): a shutdown that waited on any timer
    # (a grace period for the open connections) would never end and meet the hang guard.
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            info = await nursery.start(partial(
                serve_webhooks, bind="127.0.0.1", port=0, path=PATH, codec=MockWebhookCodec(),
                on_events=lambda events: None, replay=ReplayCache(), clock_ms=lambda: NOW_MS))
            idle = await RawClient.connect(info.port)  # keeps a connection open
            stalled = await RawClient.connect(info.port)
            await stalled.send_head({"content-length": "10"})
            nursery.cancel_scope.cancel()
        assert trio.current_time() == 0  # no timer was waited on
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", info.port)
        await idle.stream.aclose()
        await stalled.stream.aclose()
