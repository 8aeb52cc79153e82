"""Media streams on real hypercorn (127.0.0.1, port 0) behind serve_webhooks, driven by the
Twilio media-stream simulator over real websockets: limits, tokens, playback, real-time jitter.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial

import pytest
import trio
import trio_websocket

from tests.daemon.playout import playout
from voicecall_cli.daemon.media.endpoint import MediaStreams
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.web.server import serve_webhooks
from voicecall_cli.providers.audio import SILENCE_FRAME, mulaw_encode, sine_pcm16, tone_source
from voicecall_cli.providers.mock.webhooks import MockWebhookCodec
from voicecall_cli.providers.replay import ReplayCache
from voicecall_cli.providers.twilio.media import TwilioMediaCodec
from voicecall_cli.simulator.twilio.media import Tone, open_twilio_media_stream

CALL = "CA0123456789abcdef0123456789abcdef"
STREAM_PATH = "/voice/stream"
TOO_MANY_PENDING = (1013, "Too many pending media stream connections")


class Server:
    def __init__(self, streams: MediaStreams, registry: StreamRegistry, port: int) -> None:
        self.streams = streams
        self.registry = registry
        self.url = f"ws://127.0.0.1:{port}{STREAM_PATH}"
        self.http = f"http://127.0.0.1:{port}"
        self.audio: list[tuple[str, bytes]] = []

    async def wait_for_stream(self, call_sid: str = CALL) -> None:
        while not self.streams.has_stream(call_sid):
            await trio.sleep(0.005)


@asynccontextmanager
async def media_server(**limits):
    registry = StreamRegistry()
    audio: list[tuple[str, bytes]] = []
    options = dict(max_connections=128, max_pending=32, max_pending_per_ip=4,
                   pre_start_timeout_s=5.0)
    options.update(limits)
    streams = MediaStreams(registry=registry, codec=TwilioMediaCodec(),
                           on_start=lambda *_: None, on_stop=lambda *_: None,
                           on_audio=lambda call_sid, payload: audio.append((call_sid, payload)),
                           **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(streams.run)
        info = await nursery.start(partial(
            serve_webhooks, bind="127.0.0.1", port=0, path="/voice/webhook",
            codec=MockWebhookCodec(), on_events=lambda events: None, replay=ReplayCache(),
            clock_ms=lambda: 0, stream_path=STREAM_PATH, stream_app=streams.asgi))
        server = Server(streams, registry, info.port)
        server.audio = audio
        yield server
        nursery.cancel_scope.cancel()


async def idle_socket(url: str, results: list, *, hold: trio.Event,
                      local_address: str | None = None, opened: list | None = None) -> None:
    """A socket that connects and never starts. Appends its close (code, reason) once the
    server closes it, or None if it is still open when ``hold`` is set; appends None to
    ``opened`` once the server accepted it."""
    async with open_twilio_media_stream(url, call_sid=CALL, token=None, send_start=False,
                                        local_address=local_address) as stream:
        if opened is not None:
            opened.append(None)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_after, stream.closed.wait, nursery.cancel_scope)
            nursery.start_soon(_cancel_after, hold.wait, nursery.cancel_scope)
        results.append((stream.close_code, stream.close_reason) if stream.closed.is_set()
                       else None)


async def _cancel_after(wait, scope: trio.CancelScope) -> None:
    await wait()
    scope.cancel()


async def test_forty_idle_sockets_from_one_ip_keep_four_pending() -> None:
    with trio.fail_after(20):
        async with media_server() as server:
            results: list = []
            hold = trio.Event()
            async with trio.open_nursery() as nursery:
                for _ in range(40):
                    nursery.start_soon(partial(idle_socket, server.url, results, hold=hold))
                while len(results) < 36:
                    await trio.sleep(0.01)
                hold.set()
    assert results.count(TOO_MANY_PENDING) == 36
    assert results.count(None) == 4  # still open, waiting for their start


async def test_an_idle_socket_is_closed_1008_at_the_pre_start_timeout() -> None:
    with trio.fail_after(10):
        async with media_server(pre_start_timeout_s=0.3) as server:
            began = trio.current_time()  # before the server could start its timer
            async with open_twilio_media_stream(server.url, call_sid=CALL, token=None,
                                                send_start=False) as stream:
                await stream.closed.wait()
            elapsed = trio.current_time() - began
    assert (stream.close_code, stream.close_reason) == (1008, "Start timeout")
    assert elapsed >= 0.3  # a lower bound only: load makes the close late, never early


async def test_the_connection_over_max_connections_gets_503() -> None:
    with trio.fail_after(10):
        async with media_server(max_connections=2) as server:
            hold = trio.Event()
            results: list = []
            opened: list = []
            async with trio.open_nursery() as nursery:
                for _ in range(2):
                    nursery.start_soon(partial(idle_socket, server.url, results, hold=hold,
                                               opened=opened))
                while len(opened) < 2:  # both upgraded: both counted
                    await trio.sleep(0.005)
                with pytest.raises(trio_websocket.ConnectionRejected) as refused:
                    async with open_twilio_media_stream(server.url, call_sid=CALL, token=None):
                        pass
                hold.set()
    assert refused.value.status_code == 503
    assert refused.value.body == b"Too many media stream connections\n"
    assert results == [None, None]  # the two within the limit were never disturbed


async def test_a_flood_of_idle_sockets_does_not_stop_a_valid_call() -> None:
    with trio.fail_after(20):
        async with media_server() as server:
            token = server.registry.token(CALL)
            results: list = []
            hold = trio.Event()
            async with trio.open_nursery() as nursery:
                for _ in range(40):  # from another address: the per-IP cap contains them
                    nursery.start_soon(partial(idle_socket, server.url, results,
                                               local_address="127.0.0.2", hold=hold))
                while len(results) < 36:
                    await trio.sleep(0.01)
                async with open_twilio_media_stream(server.url, call_sid=CALL,
                                                    token=token) as stream:
                    await server.wait_for_stream()
                    outcome = await server.streams.play(CALL, tone_source(440, 0.3))
                hold.set()
    assert outcome == "played"
    assert sum(len(m.payload) for m in stream.media if m.payload != SILENCE_FRAME) == 2400
    assert results.count(TOO_MANY_PENDING) == 36


@pytest.mark.parametrize("token", ["not-the-token", None])
async def test_a_bad_or_missing_token_is_closed_1008(token) -> None:
    with trio.fail_after(10):
        async with media_server() as server:
            server.registry.token(CALL)
            async with open_twilio_media_stream(server.url, call_sid=CALL,
                                                token=token) as stream:
                await stream.closed.wait()
    assert (stream.close_code, stream.close_reason) == (1008, "Unknown call")
    assert not server.streams.has_stream(CALL)


async def test_other_websocket_paths_are_refused() -> None:
    with trio.fail_after(10):
        async with media_server() as server:
            with pytest.raises(trio_websocket.ConnectionRejected) as refused:
                async with open_twilio_media_stream(server.url + "-evil", call_sid=CALL,
                                                    token=None):
                    pass
    assert refused.value.status_code == 404


async def test_full_duplex_audio_marks_and_clear_over_a_real_socket() -> None:
    with trio.fail_after(20):
        async with media_server() as server:
            token = server.registry.token(CALL)
            async with open_twilio_media_stream(server.url, call_sid=CALL,
                                                token=token) as stream:
                await server.wait_for_stream()
                await stream.send_raw("{malformed")  # logged, the socket stays open
                sent = await stream.send_audio(Tone(660, 0.2))
                assert await server.streams.play(CALL, tone_source(440, 0.2)) == "played"
                async with trio.open_nursery() as nursery:
                    outcome: list[str] = []

                    async def play_long() -> None:
                        outcome.append(await server.streams.play(CALL, tone_source(440, 5)))

                    before = len(stream.media)
                    nursery.start_soon(play_long)
                    while len(stream.media) < before + 5:  # the long tone is playing
                        await trio.sleep(0.005)
                    server.streams.clear(CALL)
                frames_at_clear = len(stream.media)
                await trio.sleep(0.2)
    assert sent == 10
    inbound = b"".join(payload for _, payload in server.audio)
    assert inbound == mulaw_encode(sine_pcm16(660, 0.2, amplitude=8000))
    assert len(stream.marks_echoed) >= 1 and outcome == ["interrupted"]
    assert len(stream.clears) == 1
    assert len(stream.media) == frames_at_clear  # nothing of the cleared audio came later
    assert stream.media[-1].at <= stream.clears[0]


async def test_full_duplex_plays_every_frame_of_a_three_second_tone() -> None:
    """Its timing (jitter, drift) is measured by tests/bench/bench_pacing.py, never checked."""
    with trio.fail_after(60):
        async with media_server() as server:
            token = server.registry.token(CALL)
            async with open_twilio_media_stream(server.url, call_sid=CALL,
                                                token=token) as stream:
                await server.wait_for_stream()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(stream.send_audio, Tone(300, 3))  # full duplex
                    assert await server.streams.play(CALL, tone_source(440, 3)) == "played"
    heard = playout([(m.at, m.payload) for m in stream.media])
    assert heard.frames in (150, 151)  # all of the 3 s, in whole 20 ms frames
    assert len(server.audio) == 150  # and heard every frame of the caller's 3 s
