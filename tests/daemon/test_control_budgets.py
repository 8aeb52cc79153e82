"""The control server's two budgets (requests, event streams) and its answers that never fail
to encode (issue #14 items 2 and 5), on a real Unix socket with the fakes of test_control."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from voicecall_cli.protocol import StatusRequest

from .test_control import FakeBackend, RawClient, assert_still_healthy, http, serving


@pytest.fixture
def sock() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="vc", dir="/tmp"))  # short: AF_UNIX path limit
    yield directory / "control.sock"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


EVENTS_REQUEST = b"GET /v1/events HTTP/1.1\r\nHost: voicecall\r\n\r\n"


async def follow(path) -> RawClient:
    client = await RawClient.connect(path)
    await client.stream.send_all(EVENTS_REQUEST)
    return client


async def test_followers_have_their_own_budget_and_the_extra_one_is_refused(sock, backend):
    with trio.fail_after(30):
        async with serving(sock, backend, max_connections=2, max_followers=3):
            followers = [await follow(sock) for _ in range(3)]
            for client in followers:
                assert (await client.head())[0] == 200
            extra = await follow(sock)
            status, _ = await extra.head()
            body = json.loads(await extra.rest())
            assert status == 409 and body["error"]["code"] == "conflict"
            assert "too many event streams open (3)" in body["error"]["message"]
            # Three streams hold no request slot: two requests at once still get answers.
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(assert_still_healthy, sock)
            reply = await http(sock, "POST", "/v1/voicecall.status", {})
            assert reply.status == 200
            # A closed stream gives its follower slot back.
            await followers[0].stream.aclose()
            await backend.subscriptions[0].closed.wait()  # the server saw it go
            again = await follow(sock)
            assert (await again.head())[0] == 200
            for client in [*followers[1:], again]:
                await client.stream.aclose()


class SurrogateBackend(FakeBackend):
    """A backend whose answer holds a lone surrogate (as if one had slipped past the edges)."""

    async def call_method(self, request):
        return {"calls": [{"callId": "c1", "text": "caf\udce9"}]}

    def subscribe(self, since, call_id):
        subscription = super().subscribe(since, call_id)
        subscription.snapshot = {**subscription.snapshot, "note": "caf\udce9"}
        return subscription


async def test_an_answer_holding_a_lone_surrogate_is_still_sent_as_json(sock):
    odd = SurrogateBackend(streams_end_at_once=True)
    with trio.fail_after(30):
        async with serving(sock, odd):
            reply = await http(sock, "POST", "/v1/voicecall.status", StatusRequest().to_body())
            assert reply.status == 200
            assert reply.body == {"calls": [{"callId": "c1", "text": "caf\udce9"}]}
            stream = await follow(sock)
            assert (await stream.head())[0] == 200
            raw = await stream.rest()
            assert b'"note":"caf\\udce9"' in raw
            await assert_still_healthy(sock)
