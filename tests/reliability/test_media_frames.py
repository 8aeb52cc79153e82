"""Malformed media frames of every kind, on authenticated and unauthenticated sockets of every
carrier, against the real hypercorn-served media endpoint (fast, in the normal run) and against
a real ``voicecall daemon run`` per carrier (``@pytest.mark.reliability``, in
``test_media_flood.py``).

What a user relies on: whatever a socket sends, the endpoint stays up, a concurrent legitimate
call keeps streaming both ways, the bad socket is closed (1008, or 1007 for a text frame that
is not UTF-8, 1009 for one over the size limit: never 1011, which would mean a failure of
ours), its call hears why when it was
an authenticated stream, and the log stays a few dozen lines long.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import trio
import trio_websocket

from tests.reliability.media_hostile import BAD_FRAMES, RawSocket, every_bad_frame
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.guard import FrameLimits
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.audio import tone_source
from voicecall_cli.providers.media_codec import MediaCodec
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.plivo.media import PlivoMediaCodec, token_for_xml
from voicecall_cli.providers.replay import ReplayCache
from voicecall_cli.providers.telnyx.media import TelnyxMediaCodec
from voicecall_cli.providers.telnyx.state import encode_client_state
from voicecall_cli.providers.twilio.media import TwilioMediaCodec
from voicecall_cli.simulator.media import Tone
from voicecall_cli.simulator.plivo.media import open_plivo_media_stream
from voicecall_cli.simulator.telnyx.media import open_telnyx_media_stream
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream

STREAM_PATH = "/voice/stream"
LIMITS = FrameLimits()


@dataclass
class Carrier:
    """How a carrier's simulator opens a call's stream with a token, and for which subject
    the daemon mints that call's token (Telnyx: our call id, which client_state carries)."""

    name: str
    codec: MediaCodec
    opener: Callable[..., AbstractAsyncContextManager[Any]]

    def subject(self, call: str) -> str:
        return f"ours-{call}" if self.name == "telnyx" else call

    def open(self, url: str, call: str, token: str | None, **options: Any
             ) -> AbstractAsyncContextManager[Any]:
        if self.name == "twilio":
            return open_twilio_media_stream(url, call_sid=call, token=token, **options)
        if self.name == "telnyx":
            return open_telnyx_media_stream(url, call_control_id=call, token=token,
                                            client_state=encode_client_state(f"ours-{call}"),
                                            **options)
        extra = f"token={token_for_xml(token)}" if token else ""
        return open_plivo_media_stream(url, call_uuid=call, extra_headers=extra, **options)


CARRIERS = [Carrier("twilio", TwilioMediaCodec(), open_twilio_media_stream),
            Carrier("telnyx", TelnyxMediaCodec(), open_telnyx_media_stream),
            Carrier("plivo", PlivoMediaCodec(), open_plivo_media_stream)]


class Clock:
    """The token registry's clock, moved by the test (token expiry without waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Endpoint:
    carrier: Carrier
    streams: MediaStreams
    registry: StreamRegistry
    clock: Clock
    port: int
    audio: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[str, str]] = field(default_factory=list)
    live: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{STREAM_PATH}"

    def token(self, call: str) -> str:
        self.live.add(call)
        return self.registry.token(self.carrier.subject(call))

    async def wait_stream(self, call: str) -> None:
        with trio.fail_after(10):
            while not self.streams.has_stream(call):
                await trio.sleep(0.01)


@asynccontextmanager
async def endpoint(carrier: Carrier) -> AsyncIterator[Endpoint]:
    clock = Clock()
    registry = StreamRegistry(clock=clock)
    box: dict[str, Endpoint] = {}
    streams = MediaStreams(
        registry=registry, codec=carrier.codec, max_connections=128, max_pending=32,
        max_pending_per_ip=8, pre_start_timeout_s=5.0, on_start=lambda *_: None,
        on_stop=lambda *_: None, is_live_call=lambda call: call in box["e"].live,
        on_audio=lambda call, _payload: box["e"].audio.update([call]),
        on_error=lambda call, why: box["e"].errors.append((call, why)))
    async with trio.open_nursery() as nursery:
        await nursery.start(streams.run)
        info = await nursery.start(partial(
            serve_webhooks, bind="127.0.0.1", port=0, path="/voice/webhook",
            codec=MockWebhookCodec(), on_events=lambda events: None, replay=ReplayCache(),
            clock_ms=lambda: 0, stream_path=STREAM_PATH, stream_app=streams.asgi))
        box["e"] = Endpoint(carrier, streams, registry, clock, info.port)
        yield box["e"]
        nursery.cancel_scope.cancel()


async def barrage(url: str, frames: list[str | bytes]) -> list[tuple[int, str]]:
    """Send every frame on unauthenticated sockets, opening a new one whenever the endpoint
    closed the last; returns the (code, reason) of every close."""
    closes: list[tuple[int, str]] = []
    pending = list(frames)
    while pending:
        async with trio_websocket.open_websocket_url(url) as ws:
            try:
                while pending:
                    await ws.send_message(pending[0])
                    pending.pop(0)
                    if len(pending) % 8 == 0:
                        await trio.sleep(0)  # let the endpoint close us when it has had enough
            except trio_websocket.ConnectionClosed as closed:
                closes.append((closed.reason.code, closed.reason.reason or ""))
    return closes


@pytest.mark.parametrize("carrier", CARRIERS, ids=[c.name for c in CARRIERS])
async def test_every_kind_of_bad_frame_leaves_a_live_call_streaming(carrier: Carrier,
                                                                    caplog) -> None:
    caplog.set_level(logging.INFO, logger="voicecall.media")
    frames = every_bad_frame(carrier.name)
    assert len(frames) > 300
    with trio.fail_after(60):
        async with endpoint(carrier) as e:
            async with carrier.open(e.url, "call-a", e.token("call-a")) as legit:
                await e.wait_stream("call-a")
                result: dict[str, str] = {}

                async def play() -> None:
                    result["a"] = await e.streams.play("call-a", tone_source(440, 0.5))

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(play)
                    nursery.start_soon(legit.send_audio, Tone(300.0, 0.5))
                    before = len(caplog.records)
                    closes = await barrage(e.url, frames)
                    lines = len(caplog.records) - before
                assert result["a"] == "played"  # our audio went out and its mark came back
                assert len(legit.media) >= 25
                with trio.fail_after(10):  # and all of the caller's audio came in
                    while e.audio["call-a"] < 25:
                        await trio.sleep(0.01)
            assert closes, "no hostile socket was closed"
            # 1009: hypercorn's own close for a frame over the 64 KB message limit
            assert {code for code, _ in closes} == {1008, 1009}, Counter(closes)
            assert "Too many malformed messages" in {reason for _, reason in closes}
            # hundreds of bad frames on dozens of sockets: a bounded, short log
            assert lines <= 40, [r.getMessage() for r in caplog.records[before:]][:100]
            async with carrier.open(e.url, "call-b", e.token("call-b")):  # still serving
                await e.wait_stream("call-b")


@pytest.mark.parametrize("carrier", CARRIERS, ids=[c.name for c in CARRIERS])
async def test_an_authenticated_stream_survives_odd_frames_then_is_closed_for_a_flood(
        carrier: Carrier) -> None:
    # (hypercorn itself closes 1009 for a frame over its 64 KB limit: not this test's point)
    frames = [f for f in every_bad_frame(carrier.name) if len(f) <= 64_000]
    with trio.fail_after(60):
        async with endpoint(carrier) as e:
            async with carrier.open(e.url, "call-a", e.token("call-a")) as hostile:
                await e.wait_stream("call-a")
                for n, frame in enumerate(frames):
                    await hostile.send_raw(frame) if isinstance(frame, str) else (
                        await hostile._ws.send_message(frame))
                    if n % 10 == 9:  # a good frame now and then: not a run of bad ones
                        await hostile.send_json(hostile.media_frame(b"\xff" * 160, n))
                # the mark echo comes after every frame above: all of them were read
                with trio.fail_after(10):
                    assert await e.streams.play("call-a", tone_source(440, 0.1)) == "played"
                assert not hostile.closed.is_set() and e.errors == []
                assert e.audio["call-a"] > 0
                for _ in range(LIMITS.bad_in_a_row + 1):
                    await hostile.send_raw("garbage")
                with trio.fail_after(10):
                    await hostile.closed.wait()
                assert (hostile.close_code, hostile.close_reason) == (
                    1008, "Too many malformed messages")
            assert e.errors == [("call-a", "media stream closed: Too many malformed messages")]
            assert not e.streams.has_stream("call-a")


@pytest.mark.parametrize("carrier", CARRIERS, ids=[c.name for c in CARRIERS])
async def test_text_frames_that_are_not_utf8_and_binary_frames_close_only_their_socket(
        carrier: Carrier) -> None:
    with trio.fail_after(30):
        async with endpoint(carrier) as e, carrier.open(e.url, "call-a",
                                                        e.token("call-a")) as legit:
                await e.wait_stream("call-a")
                for payload in (b'{"event":"caf\xe9"}', b"\xed\xa0\x80", b"\xff" * 1000):
                    raw, status = await RawSocket.connect(e.port, STREAM_PATH)
                    assert status == 101
                    await raw.send_frame(0x1, payload)  # text, not UTF-8
                    # hypercorn (wsproto) drops the connection for it; a 1007 would do too
                    assert await raw.close_code() in (1007, None)
                    await raw.aclose()
                raw, status = await RawSocket.connect(e.port, STREAM_PATH)
                for _ in range(LIMITS.bad_before_start + 1):
                    await raw.send_frame(0x2, BAD_FRAMES["binary: garbage"])
                assert await raw.close_code() == 1008
                await raw.aclose()
                await legit.send_audio(Tone(300.0, 0.2))
                with trio.fail_after(10):
                    while e.audio["call-a"] < 10:
                        await trio.sleep(0.01)
                assert not legit.closed.is_set()


@pytest.mark.parametrize("carrier", CARRIERS, ids=[c.name for c in CARRIERS])
async def test_a_start_with_a_bad_expired_or_used_token_is_refused(carrier: Carrier) -> None:
    with trio.fail_after(30):
        async with endpoint(carrier) as e:
            used = e.token("call-a")
            async with carrier.open(e.url, "call-a", used):
                await e.wait_stream("call-a")
                expiring = e.token("call-c")
                e.clock.now += e.registry.token_ttl_s + 1  # no stream came in time
                cases = {"no token": ("call-b", None), "a wrong token": ("call-b", "x" * 22),
                         "another call's token": ("call-b", e.token("call-d")),
                         "a used token": ("call-a", used),
                         "an expired token": ("call-c", expiring)}
                e.live.add("call-b")
                for label, (call, token) in cases.items():
                    async with carrier.open(e.url, call, token) as intruder:
                        with trio.fail_after(10):
                            await intruder.closed.wait()
                        assert (intruder.close_code, intruder.close_reason) == (
                            1008, "Unknown call"), label
                assert e.registry.current("call-a") is not None  # the live stream stays
                assert e.registry.current("call-a").stream_id == legit_id(e, "call-a")
            fresh = e.token("call-c")  # what the next TwiML/XML for the call names
            async with carrier.open(e.url, "call-c", fresh):
                await e.wait_stream("call-c")


def legit_id(e: Endpoint, call: str) -> str:
    stream = e.registry.current(call)
    assert stream is not None
    return stream.stream_id


@pytest.mark.parametrize("host", [b"[::1", b"bad host!!", b"a@b.example", b"x:99999"])
async def test_an_upgrade_with_an_invalid_host_gets_400_and_no_pending_slot(host: bytes
                                                                            ) -> None:
    carrier = CARRIERS[0]
    with trio.fail_after(30):
        async with endpoint(carrier) as e:
            for _ in range(20):  # more than the pending limits
                raw, status = await RawSocket.connect(e.port, STREAM_PATH, host=host)
                assert status == 400
                await raw.aclose()
            async with carrier.open(e.url, "call-a", e.token("call-a")):
                await e.wait_stream("call-a")


# -- a real daemon per carrier (long: marked) ------------------------------------------------------


async def flood(url: str, frames: list[str | bytes], total: int, closes: list[int]) -> None:
    """Send ``total`` bad frames as fast as the daemon takes them, reconnecting whenever it
    closes the socket (an attacker who never gives up); records the close codes."""
    sent = 0
    while sent < total:
        try:
            async with trio_websocket.open_websocket_url(url) as ws:
                while sent < total:
                    await ws.send_message(frames[sent % len(frames)])
                    sent += 1
                    if sent % 16 == 0:
                        await trio.sleep(0)
        except trio_websocket.ConnectionClosed as closed:
            closes.append(closed.reason.code)
        except trio_websocket.HandshakeError:  # refused: too many pending from this IP
            closes.append(0)
            await trio.sleep(0.01)


def log_lines(session: Any) -> list[str]:
    return session.daemon.log.read_text(errors="replace").splitlines()


@asynccontextmanager
async def replayed_stream(carrier: Any, provider_call_id: str) -> AsyncIterator[Any]:
    """The carrier opens the call's stream again exactly as before, token included."""
    if carrier.name == "plivo":  # its simulator connects each <Stream> once: by hand
        request = carrier.sim.calls[provider_call_id].stream
        async with open_plivo_media_stream(request.url, call_uuid=provider_call_id,
                                           extra_headers=request.extra_headers,
                                           content_type=request.content_type) as stream:
            yield stream
    else:
        async with carrier.media_caller(provider_call_id) as caller:
            yield caller.stream


@pytest.mark.reliability
@pytest.mark.parametrize("carrier_name", [c.name for c in CARRIERS])
async def test_a_real_daemon_under_a_flood_of_bad_frames_keeps_its_calls(carrier_name: str
                                                                         ) -> None:
    from tests.conformance.carriers import HARNESSES
    from tests.conformance.session import HEARD_OVER_STREAM, open_session

    carrier = next(h for h in HARNESSES if h.name == carrier_name)()
    frames = [f for f in every_bad_frame(carrier_name) if len(f) <= 64_000]
    with trio.fail_after(120):
        async with open_session(carrier, media=True) as s:
            call_a = await s.place("Hello, the clinic calling.")
            pid_a = await s.provider_id(call_a)
            async with carrier.media_caller(pid_a) as caller:
                await s.answered(call_a)
                url = s.daemon.health()["streamUrl"]
                before = len(log_lines(s))
                closes: list[int] = []
                async with trio.open_nursery() as nursery:
                    for _ in range(4):
                        nursery.start_soon(flood, url, frames, 1500, closes)
                    # meanwhile the call goes on: the daemon speaks, the caller is heard
                    spoken = await s.cli_json("speak", "--call-id", call_a,
                                              "--message", "Still with you.")
                    await caller.talk(0.5)
                assert spoken == {"success": True}
                await s.wait_call(call_a, lambda c: ("user", HEARD_OVER_STREAM[0]) in [
                    (t["speaker"], t["text"]) for t in c["transcript"]], "the caller's words")
                flood_lines = log_lines(s)[before:]
                # the stream's token was spent when it started: presenting it again opens
                # nothing, and the live stream stays
                async with replayed_stream(carrier, pid_a) as replayed:
                    with trio.fail_after(10):
                        await replayed.closed.wait()
                    assert (replayed.close_code, replayed.close_reason) == (1008, "Unknown call")
                assert (await s.cli_json("speak", "--call-id", call_a,
                                         "--message", "Goodbye.")) == {"success": True}
            assert s.daemon.proc.poll() is None
            assert closes and set(closes) <= {1008, 0}, Counter(closes)
            assert len(flood_lines) <= 60, flood_lines[:120]  # 6,000 bad frames
            assert not any("Traceback" in line for line in log_lines(s)), s.log_tail()

            # an authenticated stream that turns hostile: closed, and its call hears why
            call_b = await s.place("Second call.")
            pid_b = await s.provider_id(call_b)
            async with carrier.media_caller(pid_b) as hostile:
                await s.answered(call_b)
                for _ in range(LIMITS.bad_in_a_row + 1):
                    await hostile.stream.send_raw("garbage")
                with trio.fail_after(10):
                    await hostile.stream.closed.wait()
            errors = [e for e in await s.events()
                      if e["type"] == "call.error" and e.get("callId") == call_b]
            assert errors, await s.events()
            assert "Too many malformed messages" in str(errors[0])


@pytest.mark.reliability
async def test_a_replayed_answer_webhook_returns_a_token_that_opens_nothing() -> None:
    import re

    import httpx

    from tests.e2e.test_twilio import _signature, call_with_stream, twilio_daemon
    from tests.e2e.test_twilio_streams import STREAMING

    with trio.fail_after(60):
        async with twilio_daemon(extra_config=STREAMING) as (daemon, sim):
            _call_id, sid, request = await call_with_stream(daemon, sim, "Hello.")
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await stream.wait_for(lambda st: len(st.media) > 5)
                answer = sim.calls[sid].webhooks[0]  # the signed answer webhook
                async with httpx.AsyncClient() as http:
                    again = await http.post(answer.url, data=answer.params, headers={
                        "X-Twilio-Signature": _signature(sim, answer)})
                assert again.status_code == 200 and again.text == answer.body  # a retry's reply
                token = re.search(r'name="token" value="([^"]+)"', again.text).group(1)
                assert token == request.token
                async with open_twilio_media_stream(request.url, call_sid=sid,
                                                    token=token) as intruder:
                    with trio.fail_after(10):
                        await intruder.closed.wait()
                    assert (intruder.close_code, intruder.close_reason) == (1008, "Unknown call")
                media = len(stream.media)
                await stream.wait_for(lambda st: len(st.media) > media)  # still streaming
                assert not stream.closed.is_set()
