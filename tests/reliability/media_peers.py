"""The media endpoint and the carriers' sides of its sockets, for the reliability tests: each
carrier's simulator opening a call's stream with a token, the real hypercorn-served
:class:`~voicecall_cli.daemon.media.endpoint.MediaStreams` on loopback (port 0) with a token
registry on a clock the test moves, and attackers that keep sending bad frames.

Resource handling: :func:`endpoint` owns its server and the endpoint's tasks (cancelled on
exit); every socket here is opened in an ``async with`` and closed on exit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
import trio_websocket

from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.media_codec import MediaCodec
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.plivo.media import PlivoMediaCodec, token_for_xml
from voicecall_cli.providers.replay import ReplayCache
from voicecall_cli.providers.telnyx.media import TelnyxMediaCodec
from voicecall_cli.providers.telnyx.state import encode_client_state
from voicecall_cli.providers.twilio.media import TwilioMediaCodec
from voicecall_cli.simulator.plivo.media import open_plivo_media_stream
from voicecall_cli.simulator.telnyx.media import open_telnyx_media_stream
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream

STREAM_PATH = "/voice/stream"


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
        call = carrier.sim.find_call(provider_call_id)  # the id may be the request's
        request = call.stream
        async with open_plivo_media_stream(request.url, call_uuid=call.call_uuid,
                                           extra_headers=request.extra_headers,
                                           content_type=request.content_type) as stream:
            yield stream
    else:
        async with carrier.media_caller(provider_call_id) as caller:
            yield caller.stream
