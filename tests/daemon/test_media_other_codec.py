"""The media-stream endpoint and playback with a codec that is not Twilio's.

The daemon's media package owns sockets, tokens, the stream registry and paced playback; a
provider only supplies a :class:`~voicecall_cli.providers.media_codec.MediaCodec`. This test
invents a wire format that shares nothing with Twilio Media Streams (its own keys, hex audio,
its own names for start, audio, checkpoints, flush and stop) and checks that a whole stream
works through it: start and token check, caller audio, dtmf, paced playback settled by the
peer's checkpoint echo, barge-in, and stop. Every frame the daemon sends must be in this
format: a Twilio-shaped frame anywhere would mean some path bypasses the codec.

As in ``test_media_playback.py``, a fake socket stands where hypercorn stands and the test
runs on trio's MockClock, so pacing is checked against trio's clock exactly.
"""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from tests.daemon.asgi_socket import AsgiWebsocket
from tests.daemon.playout import playout
from voicecall_cli.daemon.media.endpoint import MediaStreams, PlaybackFailed
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.providers.audio import SILENCE_FRAME, mulaw_encode, sine_pcm16, tone_source
from voicecall_cli.providers.media_codec import (
    AudioIn,
    DtmfIn,
    MarkPlayed,
    MediaEvent,
    StreamStarted,
    StreamStopped,
)

CALL = "walkie-call-42"
STREAM = "chan-7"


class WalkieCodec:
    """An invented provider's media framing.

    From the provider: ``{"t":"hello","call":..,"sid":..,"key":..}``, ``{"t":"pcm","hex":..}``,
    ``{"t":"done","id":..}``, ``{"t":"keys","pressed":..}``, ``{"t":"bye"}``; anything else is
    ignored. To the provider: ``{"t":"play","chan":..,"hex":..}``,
    ``{"t":"ckpt","chan":..,"id":..}``, ``{"t":"flush","chan":..}``.
    """

    name = "walkie"
    token_header = None

    def decode(self, frame: str | bytes) -> MediaEvent | None:
        message = json.loads(frame)  # a JSONDecodeError is a ValueError
        if not isinstance(message, dict):
            raise ValueError("not an object")
        try:
            return self._event(message)
        except (KeyError, TypeError) as exc:  # the contract: malformed -> ValueError
            raise ValueError(f"malformed walkie frame: {exc!r}") from None

    @staticmethod
    def _event(message: dict) -> MediaEvent | None:
        kind = message.get("t")
        if kind == "hello":
            return StreamStarted(str(message["sid"]), message.get("call"), message.get("key"))
        if kind == "pcm":
            return AudioIn(bytes.fromhex(message["hex"]))
        if kind == "done":
            return MarkPlayed(str(message["id"]))
        if kind == "keys":
            return DtmfIn(str(message["pressed"]))
        if kind == "bye":
            return StreamStopped()
        return None

    def encode_audio(self, stream_id: str, mulaw: bytes) -> str:
        return json.dumps({"t": "play", "chan": stream_id, "hex": mulaw.hex()})

    def encode_mark(self, stream_id: str, name: str) -> str:
        return json.dumps({"t": "ckpt", "chan": stream_id, "id": name})

    def encode_clear(self, stream_id: str) -> str:
        return json.dumps({"t": "flush", "chan": stream_id})


class WalkieSocket(AsgiWebsocket):
    """One websocket between ``MediaStreams.asgi`` and a peer speaking the walkie format."""

    def __init__(self, *, echo_checkpoints: bool = True) -> None:
        super().__init__(client_ip="198.51.100.9", path="/walkie/media")
        self.echo_checkpoints = echo_checkpoints

    def on_frame(self, frame: dict) -> None:
        if frame["t"] == "ckpt" and self.echo_checkpoints:
            self.push({"t": "done", "id": frame["id"]})

    def hello(self, token: str | None, call: str = CALL) -> None:
        self.push({"t": "hello", "call": call, "sid": STREAM, "key": token})

    def kinds(self) -> list[str]:
        return [frame["t"] for _, frame in self.frames]

    def audio(self, since: int = 0) -> list[tuple[float, bytes]]:
        return [(at, bytes.fromhex(frame["hex"])) for at, frame in self.frames[since:]
                if frame["t"] == "play"]


class Walkie:
    """MediaStreams with the walkie codec, its callbacks recorded, in the test's nursery."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.registry = StreamRegistry()
        self.token = self.registry.token(CALL)
        self.starts: list[tuple[str, str]] = []
        self.stops: list[tuple[str, str]] = []
        self.audio: list[tuple[str, bytes]] = []
        self.dtmf: list[tuple[str, str]] = []
        self.streams = MediaStreams(
            registry=self.registry, codec=WalkieCodec(), max_connections=4, max_pending=4,
            max_pending_per_ip=4, pre_start_timeout_s=5.0,
            on_start=lambda *a: self.starts.append(a), on_stop=lambda *a: self.stops.append(a),
            on_audio=lambda *a: self.audio.append(a), on_dtmf=lambda *a: self.dtmf.append(a))

    async def connect(self, **options) -> WalkieSocket:
        sock = WalkieSocket(**options)
        self.nursery.start_soon(self.streams.asgi, sock.scope, sock.receive, sock.send)
        await trio.testing.wait_all_tasks_blocked()
        return sock

    async def started(self, **options) -> WalkieSocket:
        sock = await self.connect(**options)
        sock.hello(self.token)
        await trio.testing.wait_all_tasks_blocked()
        assert self.starts == [(CALL, STREAM)] and sock.close is None
        return sock


@pytest.fixture
async def walkie(env_nursery) -> Walkie:
    w = Walkie(env_nursery)
    await env_nursery.start(w.streams.run)
    return w


def assert_only_walkie_frames(sock: WalkieSocket) -> None:
    """Everything the daemon sent is in the walkie format (nothing Twilio-shaped)."""
    for _, frame in sock.frames:
        assert frame["t"] in {"play", "ckpt", "flush"}, frame
        assert frame["chan"] == STREAM, frame
        assert "event" not in frame and "streamSid" not in frame, frame


# -- start ---------------------------------------------------------------------------------------


async def test_a_hello_with_the_calls_token_starts_the_stream(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    assert walkie.registry.current(CALL).stream_id == STREAM
    assert walkie.streams.has_stream(CALL)
    assert sock.close is None


@pytest.mark.parametrize("token", ["not-the-token", None, ""])
async def test_a_hello_with_a_wrong_token_is_closed_1008(walkie: Walkie, clock,
                                                         token: str | None) -> None:
    sock = await walkie.connect()
    sock.hello(token)
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1008, "Unknown call")
    assert walkie.starts == [] and not walkie.streams.has_stream(CALL)


async def test_another_calls_token_is_refused(walkie: Walkie, clock) -> None:
    sock = await walkie.connect()
    sock.hello(walkie.registry.token("walkie-call-other"))
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1008, "Unknown call") and walkie.starts == []


@pytest.mark.parametrize(("token", "call"), [("\ud800", CALL), ("anything", "\udfff")])
async def test_a_hello_with_an_unencodable_token_or_call_is_refused_and_the_endpoint_lives(
        clock, token: str, call: str) -> None:
    """Anyone who can reach the stream URL may send this before any check: it must cost them
    their socket, not the daemon everyone else's streams."""
    async with trio.open_nursery() as nursery:
        w = Walkie(nursery)
        await nursery.start(w.streams.run)
        bad = await w.connect()
        bad.hello(token, call=call)  # JSON "\ud800": valid UTF-8 on the wire
        await trio.testing.wait_all_tasks_blocked()
        assert bad.close == (1008, "Unknown call")
        good = await w.connect()
        good.hello(w.token)
        await trio.testing.wait_all_tasks_blocked()
        assert w.starts == [(CALL, STREAM)]
        nursery.cancel_scope.cancel()


async def test_a_twilio_start_frame_means_nothing_to_this_endpoint(walkie: Walkie,
                                                                  clock) -> None:
    sock = await walkie.connect()
    sock.push({"event": "start", "streamSid": STREAM, "start": {
        "streamSid": STREAM, "callSid": CALL, "customParameters": {"token": walkie.token}}})
    with trio.fail_after(10):
        while sock.close is None:
            await trio.sleep(0.1)
    assert sock.close == (1008, "Start timeout")
    assert walkie.starts == []


# -- caller to daemon ----------------------------------------------------------------------------


async def test_caller_audio_reaches_on_audio(walkie: Walkie, clock) -> None:
    sock = await walkie.connect()
    sock.push({"t": "pcm", "hex": (b"\x01" * 160).hex()})  # before the hello: dropped
    sock.hello(walkie.token)
    sock.push({"t": "pcm", "hex": (b"\x02" * 160).hex()})
    sock.push({"t": "pcm", "hex": bytes(range(160)).hex()})
    await trio.testing.wait_all_tasks_blocked()
    assert walkie.audio == [(CALL, b"\x02" * 160), (CALL, bytes(range(160)))]


async def test_key_presses_reach_on_dtmf(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    sock.push({"t": "keys", "pressed": "5"})
    sock.push({"t": "keys", "pressed": "#"})
    await trio.testing.wait_all_tasks_blocked()
    assert walkie.dtmf == [(CALL, "5"), (CALL, "#")]


async def test_a_malformed_frame_is_ignored(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    sock._to_app.send_nowait({"type": "websocket.receive", "text": "{nope"})
    sock.push({"t": "pcm", "hex": "zz"})  # not hex: ValueError from the codec
    sock.push({"t": "pcm", "hex": "ff" * 160})
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close is None and walkie.audio == [(CALL, b"\xff" * 160)]


# -- daemon to caller ----------------------------------------------------------------------------


async def test_play_sends_paced_frames_then_a_checkpoint_whose_echo_settles_it(
        walkie: Walkie, clock) -> None:
    sock = await walkie.started(echo_checkpoints=False)
    tone = mulaw_encode(sine_pcm16(440, 0.2))
    results: list[str] = []

    async def play() -> None:
        results.append(await walkie.streams.play(CALL, tone_source(440, 0.2)))

    walkie.nursery.start_soon(play)
    await trio.sleep(1)
    assert results == []  # all audio sent, the peer has not confirmed it was heard
    kinds = sock.kinds()
    assert kinds[-1] == "ckpt" and set(kinds[:-1]) == {"play"}
    audio = sock.audio()
    leading = next(i for i, (_, frame) in enumerate(audio) if frame != SILENCE_FRAME)
    assert leading <= 1  # at most one keep-alive frame before the first chunk
    assert b"".join(frame for _, frame in audio[leading:]) == tone
    heard = playout(audio)  # whole 20 ms frames, played without a gap
    assert heard.gaps == [] and heard.frames - leading == 10
    checkpoint = sock.frames[-1][1]["id"]

    sock.push({"t": "done", "id": "someone-elses-checkpoint"})
    await trio.sleep(0.1)
    assert results == []
    sock.push({"t": "done", "id": checkpoint})
    await trio.testing.wait_all_tasks_blocked()
    assert results == ["played"]
    assert_only_walkie_frames(sock)


async def test_queued_plays_each_end_with_their_own_checkpoint(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    results: list[str] = []

    async def play(seconds: float) -> None:
        results.append(await walkie.streams.play(CALL, tone_source(440, seconds)))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(play, 0.2)
            await trio.sleep(0)
            nursery.start_soon(play, 0.3)
    assert results == ["played", "played"]
    assert sock.kinds().count("ckpt") == 2
    checkpoints = [frame["id"] for _, frame in sock.frames if frame["t"] == "ckpt"]
    assert len(set(checkpoints)) == 2
    assert_only_walkie_frames(sock)


async def test_clear_sends_a_flush_and_interrupts(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    results: list[str] = []

    async def play() -> None:
        results.append(await walkie.streams.play(CALL, tone_source(440, 10)))

    walkie.nursery.start_soon(play)
    await trio.sleep(0.5)
    assert "play" in sock.kinds()
    walkie.streams.clear(CALL)
    await trio.sleep(1)
    assert results == ["interrupted"]
    assert sock.kinds()[-1] == "flush"  # and not one more frame of that audio after it
    assert sock.frames[-1][1] == {"t": "flush", "chan": STREAM}
    assert "ckpt" not in sock.kinds()
    flushed_at = len(sock.frames)

    with trio.fail_after(10):  # the stream plays on after a barge-in
        assert await walkie.streams.play(CALL, tone_source(880, 0.1)) == "played"
    assert playout(sock.audio(flushed_at)).frames >= 5
    assert_only_walkie_frames(sock)


# -- stop ------------------------------------------------------------------------------------------


async def test_bye_ends_the_stream(walkie: Walkie, clock) -> None:
    sock = await walkie.started()
    sock.push({"t": "bye"})
    await trio.testing.wait_all_tasks_blocked()
    assert walkie.stops == [(CALL, STREAM)]
    assert walkie.registry.current(CALL) is None and not walkie.streams.has_stream(CALL)
    assert sock.close == (1000, "Stream stopped")
    sock.push({"t": "pcm", "hex": "00" * 160})  # nothing after the stop reaches the daemon
    await trio.testing.wait_all_tasks_blocked()
    assert walkie.audio == []


async def test_bye_fails_a_play_in_flight(walkie: Walkie, clock) -> None:
    sock = await walkie.started()

    async def hang_up() -> None:
        await trio.sleep(0.3)
        sock.push({"t": "bye"})

    walkie.nursery.start_soon(hang_up)
    with trio.fail_after(10), pytest.raises(PlaybackFailed,
                                            match="stream stopped before playback finished"):
        await walkie.streams.play(CALL, tone_source(440, 5))
    assert walkie.stops == [(CALL, STREAM)]
