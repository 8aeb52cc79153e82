"""Media-stream playback and stream lifecycle on trio's MockClock, through a fake socket.

The fake socket stands where hypercorn stands: it speaks ASGI websocket messages to
``MediaStreams.asgi`` over memory channels, and on the other side behaves like Twilio (text
frames in its wire format, marks echoed). Every frame the app sends is stamped with
``trio.current_time()``, so pacing is checked against trio's clock exactly.
"""

from __future__ import annotations

import json
import math

import pytest
import trio

from tests.daemon.asgi_socket import AsgiWebsocket
from tests.daemon.playout import playout
from voicecall_cli.daemon.media.endpoint import MediaStreams, PlaybackFailed
from voicecall_cli.daemon.media.playback import CHUNK_FRAMES, CHUNK_S, LEAD_S
from voicecall_cli.daemon.media.registry import StreamRegistry
from voicecall_cli.daemon.media.streaming import StreamHooks, StreamSpeaker
from voicecall_cli.providers.audio import SILENCE_FRAME, mulaw_encode, sine_pcm16, tone_source
from voicecall_cli.providers.twilio.media import TwilioMediaCodec, decode, encode_media

CALL = "CA0123456789abcdef0123456789abcdef"
FRAME_S = 0.020


class FakeSocket(AsgiWebsocket):
    """One websocket between ``MediaStreams.asgi`` and a Twilio-like peer."""

    def __init__(self, *, client_ip: str = "203.0.113.5", echo_marks: bool = True) -> None:
        super().__init__(client_ip=client_ip)
        self.echo_marks = echo_marks

    def on_frame(self, frame: dict) -> None:
        if frame["event"] == "mark" and self.echo_marks:
            self.echo(frame["mark"]["name"])

    def start(self, call_sid: str | None, token: str | None, stream_sid: str = "MZ1") -> None:
        start = {"streamSid": stream_sid, "accountSid": "AC1", "tracks": ["inbound"],
                 "customParameters": {} if token is None else {"token": token}}
        if call_sid is not None:
            start["callSid"] = call_sid
        self.push({"event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
                   "start": start})

    def echo(self, name: str) -> None:
        self.push({"event": "mark", "streamSid": "MZ1", "mark": {"name": name}})

    def stop(self) -> None:
        self.push({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": CALL}})

    def disconnect(self) -> None:
        self._to_app.send_nowait({"type": "websocket.disconnect", "code": 1006})

    def media(self, since: int = 0) -> list[tuple[float, bytes]]:
        """(time, decoded audio) of the media frames, from frame index ``since`` on."""
        return [(t, decode(json.dumps(f)).payload) for t, f in self.frames[since:]
                if f["event"] == "media"]

    def events(self) -> list[str]:
        return [f["event"] for _, f in self.frames]


class Harness:
    """MediaStreams under test with recorded callbacks, in a nursery the test owns."""

    def __init__(self, nursery: trio.Nursery, **options) -> None:
        self.nursery = nursery
        self.registry = StreamRegistry()
        self.token = self.registry.token(CALL)
        self.starts: list[tuple[str, str]] = []
        self.stops: list[tuple[str, str]] = []
        self.audio: list[tuple[str, bytes]] = []
        self.timeouts: list[tuple[float, str]] = []
        settings = dict(registry=self.registry, codec=TwilioMediaCodec(), max_connections=8,
                        max_pending=4, max_pending_per_ip=2,
                        pre_start_timeout_s=5.0, on_start=lambda *a: self.starts.append(a),
                        on_stop=lambda *a: self.stops.append(a),
                        on_audio=lambda *a: self.audio.append(a),
                        on_disconnect_timeout=lambda c: self.timeouts.append(
                            (trio.current_time(), c)))
        settings.update(options)
        self.streams = MediaStreams(**settings)

    async def connect(self, **socket_options) -> FakeSocket:
        return await self.connect_socket(FakeSocket(**socket_options))

    async def connect_socket(self, sock: FakeSocket) -> FakeSocket:
        self.nursery.start_soon(self.streams.asgi, sock.scope, sock.receive, sock.send)
        await trio.testing.wait_all_tasks_blocked()
        return sock

    async def started_socket(self, **socket_options) -> FakeSocket:
        sock = await self.connect(**socket_options)
        sock.start(CALL, self.token)
        await trio.testing.wait_all_tasks_blocked()
        assert self.streams.has_stream(CALL)
        return sock


@pytest.fixture
async def harness(env_nursery):
    def make(**options) -> Harness:
        h = Harness(env_nursery, **options)
        return h

    return make


async def running(make, **options) -> Harness:
    h = make(**options)
    await h.nursery.start(h.streams.run)
    return h


async def late_source(delay_s: float, audio: bytes):
    await trio.sleep(delay_s)
    yield audio


# -- pacing ----------------------------------------------------------------------------------------


def on_playout_clock(media: list[tuple[float, bytes]]) -> None:
    """Each chunk leaves exactly when the audio sent before it has ``LEAD_S - CHUNK_S`` left
    to play (the first ones at once): an absolute schedule, so lateness never becomes drift."""
    first = media[0][0]
    played = 0
    for at, payload in media:
        assert at == pytest.approx(max(first, first + played * FRAME_S - (LEAD_S - CHUNK_S)),
                                   abs=1e-9)
        played += len(payload) // 160


async def test_sixty_seconds_play_without_a_gap_in_few_messages_and_no_drift(
        harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    with trio.fail_after(120):
        assert await h.streams.play(CALL, tone_source(440, 60)) == "played"
    media = sock.media()
    leading_silence = next(i for i, (_, p) in enumerate(media) if p != SILENCE_FRAME)
    assert leading_silence <= 1  # at most the keep-alive frame sent before the first chunk
    assert b"".join(p for _, p in media[leading_silence:]) == mulaw_encode(sine_pcm16(440, 60))
    heard = playout(media)
    assert heard.gaps == []  # the caller hears the minute without a break
    assert heard.frames in (3000, 3001)
    assert heard.max_queued_s <= LEAD_S + 1e-9  # a clear never has more than this to flush
    assert all(len(p) <= CHUNK_FRAMES * 160 for _, p in media)
    assert len(media) <= 60 / CHUNK_S + 2  # 10 messages a second, not 50
    on_playout_clock(media)
    assert sock.events()[-1] == "mark"


async def test_keep_alive_silence_precedes_late_audio_on_one_schedule(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    tone = mulaw_encode(sine_pcm16(440, 0.2))
    with trio.fail_after(10):
        assert await h.streams.play(CALL, late_source(0.5, tone)) == "played"
    media = sock.media()
    silence = next(i for i, (_, p) in enumerate(media) if p != SILENCE_FRAME)
    # The pacer waits one frame period for audio before keep-alive starts; then it sends one
    # frame of silence each time the carrier's queue runs dry (never silence queued ahead of
    # the audio), so 0.48-0.5 s of silence come first, one frame at a time.
    assert silence in (24, 25)
    assert all(p == SILENCE_FRAME for _, p in media[:silence])
    assert media[silence][0] == pytest.approx(media[0][0] + 0.48, abs=1e-9)  # the moment it came
    assert b"".join(p for _, p in media[silence:]) == tone
    heard = playout(media)
    assert heard.gaps == [] and heard.max_queued_s <= LEAD_S + 1e-9


async def test_queued_items_play_back_to_back_on_the_same_schedule(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    results = []
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for freq in (440, 880):
                nursery.start_soon(lambda f: _record(results, h.streams.play(
                    CALL, tone_source(f, 0.5))), freq)
    assert results == ["played", "played"]
    media = sock.media()
    assert playout(media).gaps == []
    assert playout(media).frames == 50
    on_playout_clock(media)
    assert sock.events().count("mark") == 2
    first_mark = sock.events().index("mark")
    assert sum(len(p) for _, f in sock.frames[:first_mark] if f["event"] == "media"
               for p in [decode(json.dumps(f)).payload]) == 4000  # the mark follows its audio


async def _record(results: list, awaitable) -> None:
    results.append(await awaitable)


# -- marks -----------------------------------------------------------------------------------------


async def test_play_returns_only_when_twilio_echoes_the_mark(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket(echo_marks=False)
    results: list[str] = []
    h.nursery.start_soon(_record, results, h.streams.play(CALL, tone_source(440, 0.2)))
    await trio.sleep(1)
    [mark] = [f["mark"]["name"] for _, f in sock.frames if f["event"] == "mark"]
    assert results == []  # all audio sent, Twilio has not confirmed it was heard
    sock.echo("someone-elses-mark")
    await trio.sleep(0.1)
    assert results == []
    sock.echo(mark)
    await trio.testing.wait_all_tasks_blocked()
    assert results == ["played"]


async def test_a_mark_never_echoed_fails_the_play(harness, clock) -> None:
    h = await running(harness, mark_timeout_s=3)
    await h.started_socket(echo_marks=False)
    with trio.fail_after(10), pytest.raises(PlaybackFailed, match="completion mark not ack"):
        await h.streams.play(CALL, tone_source(440, 0.2))


# -- clear (barge-in) ------------------------------------------------------------------------------


async def test_clear_interrupts_active_queued_and_unconfirmed_items(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket(echo_marks=False)
    results: dict[str, str] = {}

    async def play(name: str, seconds: float) -> None:
        results[name] = await h.streams.play(CALL, tone_source(440, seconds))

    with trio.fail_after(30):
        h.nursery.start_soon(play, "unconfirmed", 0.1)
        await trio.sleep(0.5)  # played, its mark not echoed yet
        h.nursery.start_soon(play, "active", 10)
        await trio.sleep(0.01)
        h.nursery.start_soon(play, "queued", 1)
        await trio.sleep(1)
        h.streams.clear(CALL)
        await trio.sleep(2)
    assert results == {"unconfirmed": "interrupted", "active": "interrupted",
                       "queued": "interrupted"}
    assert sock.events()[-1] == "clear"  # and not one more frame of that audio after it
    clear_index = len(sock.frames)

    sock.echo_marks = True
    with trio.fail_after(10):
        assert await h.streams.play(CALL, tone_source(880, 0.2)) == "played"
    assert playout(sock.media(clear_index)).frames >= 10


async def test_clear_without_a_stream_is_a_no_op(harness, clock) -> None:
    h = await running(harness)
    h.streams.clear(CALL)  # no stream yet: nothing to clear, no error
    # ...and nothing left behind that a later stream of the call would receive
    sock = await h.started_socket()
    with trio.fail_after(10):
        assert await h.streams.play(CALL, tone_source(440, 0.2)) == "played"
    assert "clear" not in sock.events()
    assert sum(len(audio) for _, audio in sock.media()) == 0.2 * 8000  # all of the 0.2 s


# -- failures --------------------------------------------------------------------------------------


async def test_a_source_that_raises_fails_the_play_and_the_next_one_works(harness, clock) -> None:
    h = await running(harness)
    await h.started_socket()

    async def broken():
        yield mulaw_encode(sine_pcm16(440, 0.1))
        await trio.sleep(0.05)
        raise RuntimeError("synthesis backend exploded")

    with trio.fail_after(10):
        with pytest.raises(PlaybackFailed, match="audio source failed: synthesis backend"):
            await h.streams.play(CALL, broken())
        assert await h.streams.play(CALL, tone_source(440, 0.1)) == "played"


async def test_a_source_without_audio_fails(harness, clock) -> None:
    h = await running(harness)
    await h.started_socket()

    async def nothing():
        return
        yield

    with trio.fail_after(10), pytest.raises(PlaybackFailed, match="produced no audio"):
        await h.streams.play(CALL, nothing())


async def test_synthesis_that_never_starts_times_out_after_keep_alive(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    with trio.fail_after(30), pytest.raises(PlaybackFailed, match="timed out after 8000ms"):
        await h.streams.play(CALL, late_source(math.inf, b""))
    assert trio.current_time() == pytest.approx(8.0, abs=0.1)
    assert {p for _, p in sock.media()} == {SILENCE_FRAME}
    assert "mark" not in sock.events()


async def test_play_without_a_stream_fails(harness, clock) -> None:
    h = await running(harness)
    with pytest.raises(PlaybackFailed, match="No media stream"):
        await h.streams.play(CALL, tone_source(440, 0.1))


async def test_a_peer_that_stops_reading_is_closed_for_backpressure(harness, clock) -> None:
    h = await running(harness, send_buffer_limit=20_000)
    sock = await h.started_socket()
    sock.stall = trio.Event()
    with trio.fail_after(30):
        with pytest.raises(PlaybackFailed, match="Backpressure: send buffer exceeded"):
            await h.streams.play(CALL, tone_source(440, 10))
        sent_before = len(sock.frames)
        sock.stall.set()
        await sock.closed.wait()
    assert sock.close == (1013, "Backpressure: send buffer exceeded")
    assert len(sock.frames) <= sent_before + 1  # the frame in flight, then the close
    assert not h.streams.has_stream(CALL)


async def test_the_peer_going_away_fails_the_play(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()

    async def hang_up() -> None:
        await trio.sleep(0.3)
        sock.disconnect()

    h.nursery.start_soon(hang_up)
    with trio.fail_after(10), pytest.raises(PlaybackFailed, match="closed before playback"):
        await h.streams.play(CALL, tone_source(440, 5))
    assert h.stops == [(CALL, "MZ1")]


async def test_cancelling_a_play_stops_its_audio(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    with trio.move_on_after(0.51):  # between two frames
        await h.streams.play(CALL, tone_source(440, 5))
    count = len(sock.frames)
    await trio.sleep(1)
    assert len(sock.frames) == count
    with trio.fail_after(10):
        assert await h.streams.play(CALL, tone_source(440, 0.1)) == "played"


async def test_the_stream_speaker_speaks_text_through_the_stream(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    player = StreamSpeaker(h.streams, lambda text, on_first_byte=None: tone_source(
        440, len(text) / 100), StreamHooks())
    with trio.fail_after(10):
        await player.play_text(CALL, "x" * 20)
    assert sum(len(p) for _, p in sock.media() if p != SILENCE_FRAME) == 1600  # 0.2 s


# -- stream lifecycle ------------------------------------------------------------------------------


async def test_start_registers_and_audio_flows_to_on_audio(harness, clock) -> None:
    h = await running(harness)
    sock = await h.connect()
    sock.push(json.loads(encode_media("MZ1", b"\x01" * 160)))  # before start: dropped
    sock.start(CALL, h.token)
    sock.push(json.loads(encode_media("MZ1", b"\x02" * 160)))
    await trio.testing.wait_all_tasks_blocked()
    assert h.starts == [(CALL, "MZ1")]
    assert h.registry.current(CALL).stream_id == "MZ1"
    assert h.audio == [(CALL, b"\x02" * 160)]


async def test_inbound_streams_are_counted_for_the_hold_queue(harness, clock) -> None:
    h = await running(harness, is_inbound=lambda call_sid: call_sid == CALL)
    await h.started_socket()
    assert not h.registry.admits_inbound()


async def test_malformed_json_is_ignored_and_the_socket_stays_open(harness, clock) -> None:
    h = await running(harness)
    sock = await h.connect()
    sock._to_app.send_nowait({"type": "websocket.receive", "text": "{not json"})
    sock.push({"event": "media", "media": {"payload": "***"}})
    sock.start(CALL, h.token)
    await trio.testing.wait_all_tasks_blocked()
    assert h.starts == [(CALL, "MZ1")] and sock.close is None


async def test_stop_unregisters_notifies_and_closes(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    sock.stop()
    await trio.testing.wait_all_tasks_blocked()
    assert h.stops == [(CALL, "MZ1")]
    assert not h.streams.has_stream(CALL) and h.registry.current(CALL) is None
    assert sock.close == (1000, "Stream stopped")


@pytest.mark.parametrize(("call_sid", "token", "reason"), [
    (None, "any", "Missing callSid"),
    (CALL, None, "Unknown call"),
    (CALL, "wrong-token", "Unknown call"),
    ("CAffffffffffffffffffffffffffffffff", "any", "Unknown call"),
])
async def test_a_bad_start_is_closed_1008(harness, clock, call_sid, token, reason) -> None:
    h = await running(harness)
    sock = await h.connect()
    sock.start(call_sid, token)
    await trio.testing.wait_all_tasks_blocked()
    assert sock.close == (1008, reason)
    assert h.starts == [] and not h.streams.has_stream(CALL)


async def test_the_token_may_come_from_the_upgrade_url(harness, clock) -> None:
    h = await running(harness)
    sock = FakeSocket()
    sock.scope["query_string"] = f"token={h.token}".encode()
    h.nursery.start_soon(h.streams.asgi, sock.scope, sock.receive, sock.send)
    sock.start(CALL, None)
    await trio.testing.wait_all_tasks_blocked()
    assert h.starts == [(CALL, "MZ1")]


async def test_an_idle_socket_is_closed_at_the_pre_start_timeout(harness, clock) -> None:
    h = await running(harness, pre_start_timeout_s=1.5)
    sock = await h.connect()
    with trio.fail_after(5):
        await sock.closed.wait()
    assert sock.close == (1008, "Start timeout")
    assert trio.current_time() == pytest.approx(1.5)


async def test_disconnect_without_reconnect_fires_the_grace_timer_once(harness, clock) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    sock.disconnect()
    await trio.testing.wait_all_tasks_blocked()
    gone_at = trio.current_time()
    await trio.sleep(10)
    assert [c for _, c in h.timeouts] == [CALL]
    assert h.timeouts[0][0] == pytest.approx(gone_at + 2.0)


async def test_reconnect_within_the_grace_cancels_the_timer(harness, clock) -> None:
    h = await running(harness)
    first = await h.started_socket()
    first.disconnect()
    await trio.sleep(1.5)
    second = await h.connect()
    second.start(CALL, h.registry.token(CALL), stream_sid="MZ2")  # TwiML fetched again
    await trio.sleep(10)
    assert h.timeouts == []
    assert h.streams.has_stream(CALL) and h.registry.current(CALL).stream_id == "MZ2"


async def test_an_old_stream_ending_after_a_reconnect_keeps_the_call(harness, clock) -> None:
    h = await running(harness)
    old = await h.started_socket()
    new = await h.connect()
    new.start(CALL, h.registry.token(CALL), stream_sid="MZ2")
    await trio.testing.wait_all_tasks_blocked()
    old.disconnect()
    await trio.sleep(10)
    assert h.timeouts == []
    assert h.registry.current(CALL).stream_id == "MZ2" and h.streams.has_stream(CALL)
    with trio.fail_after(10):
        assert await h.streams.play(CALL, tone_source(440, 0.1)) == "played"
    assert new.media() and not old.media()


async def test_stopping_the_streams_fails_waiting_plays_and_closes_sockets(harness, clock) -> None:
    h = harness()
    run_scope = trio.CancelScope()

    async def run_until_cancelled(task_status=trio.TASK_STATUS_IGNORED) -> None:
        with run_scope:
            await h.streams.run(task_status=task_status)

    await h.nursery.start(run_until_cancelled)
    sock = await h.started_socket()
    failures = []

    async def play() -> None:
        try:
            await h.streams.play(CALL, tone_source(440, 30))
        except PlaybackFailed as exc:
            failures.append(str(exc))

    h.nursery.start_soon(play)
    await trio.sleep(1)
    run_scope.cancel()
    with trio.fail_after(5):
        await sock.closed.wait()
    await trio.testing.wait_all_tasks_blocked()
    assert failures and sock.close[0] == 1001
    late = await h.connect()  # no longer served
    assert not late.accepted


async def test_the_pending_caps_apply_per_ip_and_in_total(harness, clock) -> None:
    h = await running(harness, max_pending=3, max_pending_per_ip=2)
    a = [await h.connect(client_ip="198.51.100.1") for _ in range(3)]
    b = [await h.connect(client_ip="198.51.100.2") for _ in range(2)]
    assert [s.close for s in a] == [None, None, (1013, "Too many pending media stream "
                                                        "connections")]
    assert [s.close for s in b] == [None, (1013, "Too many pending media stream connections")]
    a[0].start(CALL, h.token)  # a started stream frees its pending slot
    await trio.testing.wait_all_tasks_blocked()
    c = await h.connect(client_ip="198.51.100.3")
    assert c.close is None


async def test_max_connections_answers_503_before_the_upgrade(harness, clock) -> None:
    h = await running(harness, max_connections=1)
    await h.started_socket()
    sent: list[dict] = []
    sock = FakeSocket()

    async def record(message: dict) -> None:
        sent.append(message)

    await h.streams.asgi(sock.scope, sock.receive, record)
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 503
    assert sent[1]["body"] == b"Too many media stream connections\n"


async def test_without_the_http_response_extension_503_becomes_a_close(harness, clock) -> None:
    h = await running(harness, max_connections=0)
    sock = FakeSocket()
    sock.scope["extensions"] = {}
    await h.streams.asgi(sock.scope, sock.receive, sock.send)
    assert not sock.accepted and sock.close is not None


