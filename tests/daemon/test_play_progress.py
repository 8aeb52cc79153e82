"""What the caller has heard of a played item, from its marks (a realtime barge-in truncates the
model's item there): MediaStreams on trio's MockClock, a Twilio-like fake socket that echoes
each mark when the audio before it has played out (or holds them: a stalled carrier)."""

from __future__ import annotations

import base64

import pytest
import trio

from tests.daemon.test_media_playback import CALL, FakeSocket, Harness
from voicecall_cli.daemon.media.playback import PlayProgress
from voicecall_cli.providers.audio import tone_source


@pytest.fixture
async def media(env_nursery) -> Harness:
    h = Harness(env_nursery)
    await env_nursery.start(h.streams.run)
    return h


async def echo_on_playout(sock: FakeSocket, nursery: trio.Nursery) -> None:
    """Echo each mark when the audio sent before it has played (20 ms a frame from the first
    frame's arrival), as Twilio does."""
    seen = 0
    first: float | None = None
    frames = 0
    while True:
        for at, frame in sock.frames[seen:]:
            seen += 1
            if frame["event"] == "media":
                first = at if first is None else first
                frames += len(base64.b64decode(frame["media"]["payload"])) // 160
            elif frame["event"] == "mark" and first is not None:
                nursery.start_soon(echo_at, sock, frame["mark"]["name"], first + frames * 0.020)
        await trio.sleep(0.005)


async def echo_at(sock: FakeSocket, name: str, due: float) -> None:
    await trio.sleep_until(due)
    sock.echo(name)


async def test_heard_follows_the_echoed_marks_and_the_clock_between_them(media, clock) -> None:
    h = media
    sock = await h.started_socket(echo_marks=False)
    progress = PlayProgress()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo_on_playout, sock, nursery)
        nursery.start_soon(h.streams.play, CALL, tone_source(440, 3.0), progress)
        await trio.sleep(0.05)
        first = sock.media()[0][0]
        await trio.sleep_until(first + 1.3)
        assert abs(progress.heard_ms(trio.current_time()) - 1300) <= 20
        await trio.sleep_until(first + 2.71)
        assert abs(progress.heard_ms(trio.current_time()) - 2710) <= 20
        nursery.cancel_scope.cancel()
    marks = [f for _, f in sock.frames if f["event"] == "mark"]
    assert 5 <= len(marks) <= 7  # one every half second of audio, and the item's own


async def test_without_echoes_heard_never_passes_the_first_unconfirmed_mark(media,
                                                                              clock) -> None:
    h = media
    sock = await h.started_socket(echo_marks=False)  # the carrier stalls: nothing is echoed
    progress = PlayProgress()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h.streams.play, CALL, tone_source(440, 3.0), progress)
        await trio.sleep(0.05)
        first = sock.media()[0][0]
        await trio.sleep_until(first + 0.3)
        assert abs(progress.heard_ms(trio.current_time()) - 300) <= 20  # the clock, meanwhile
        await trio.sleep_until(first + 2.0)
        assert progress.heard_ms(trio.current_time()) == 500
        nursery.cancel_scope.cancel()


async def test_an_item_played_without_progress_sends_only_its_own_mark(media, clock) -> None:
    h = media
    sock = await h.started_socket()
    assert await h.streams.play(CALL, tone_source(440, 2.0)) == "played"
    assert [f for _, f in sock.frames if f["event"] == "mark"] == [
        f for _, f in sock.frames[-1:]]
