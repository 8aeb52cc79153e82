"""Telnyx's side of media streaming against an independent websocket server (trio-websocket's
own, see :mod:`tests.simulator.websocket_peer`), alone and driven by the simulator's call
runner."""

from __future__ import annotations

import base64

import trio

from tests.simulator.telnyx_fakes import action, b64, dial, fake_telnyx
from tests.simulator.websocket_peer import websocket_server
from voicecall_cli.providers.audio import mulaw_encode, sine_pcm16
from voicecall_cli.simulator.telnyx.media import Tone, open_telnyx_media_stream
from voicecall_cli.simulator.telnyx.simulator import CalleeScript

CALL = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg"


def media(payload: bytes) -> dict:
    return {"event": "media", "media": {"payload": base64.b64encode(payload).decode()}}


def mark(name: str) -> dict:
    return {"event": "mark", "mark": {"name": name}}


async def test_it_speaks_telnyxs_protocol_at_real_time_pace() -> None:
    with trio.fail_after(10):
        async with websocket_server() as (url, peer):
            async with open_telnyx_media_stream(
                    url, call_control_id=CALL, token="tok-1", client_state=b64("c1"),
                    stream_id="S1", call_session_id="sess-1", user_id="user-1",
                    from_="+15550002222", to="+15550001111") as stream:
                started = trio.current_time()
                sent = await stream.send_audio(Tone(440, 0.2))
            await peer.wait_for(lambda r: r and r[-1][1]["event"] == "stop")

    assert sent == 10
    assert peer.headers["x-telnyx-streaming-auth-token"] == "tok-1"
    assert peer.events() == ["connected", "start", *["media"] * 10, "stop"]
    assert peer.received[0][1] == {"event": "connected", "version": "1.0.0",
                                   "x-telnyx-streaming-auth-token": "tok-1"}
    start = peer.received[1][1]
    assert (start["sequence_number"], start["stream_id"]) == ("1", "S1")
    assert start["start"] == {
        "user_id": "user-1", "call_control_id": CALL, "call_session_id": "sess-1",
        "from": "+15550002222", "to": "+15550001111", "tags": [], "client_state": b64("c1"),
        "custom_parameters": {},
        "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1}}
    frames = peer.frames("media")
    assert [f["media"]["chunk"] for f in frames] == [str(n) for n in range(1, 11)]
    assert [f["media"]["timestamp"] for f in frames] == [str(n * 20) for n in range(10)]
    assert {f["media"]["track"] for f in frames} == {"inbound"}
    assert [f["sequence_number"] for f in frames] == [str(n) for n in range(2, 12)]
    audio = b"".join(base64.b64decode(f["media"]["payload"]) for f in frames)
    assert audio == mulaw_encode(sine_pcm16(440, 0.2, amplitude=8000))
    times = [t for t, m in peer.received if m["event"] == "media"]
    # The tenth frame leaves 180 ms after send_audio began (absolute schedule); a lower
    # bound from before the call, so a loaded machine can only make it later.
    assert times[-1] - started >= 9 * 0.02 - 1e-9
    stop = peer.received[-1][1]
    assert stop == {"event": "stop", "sequence_number": "12", "stream_id": "S1",
                    "stop": {"user_id": "user-1", "call_control_id": CALL}}


async def test_without_a_token_there_is_no_header_and_no_field() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_telnyx_media_stream(url, call_control_id=CALL, token=None)):
            await peer.wait_for(lambda r: len(r) >= 2)
    assert "x-telnyx-streaming-auth-token" not in peer.headers
    assert peer.received[0][1] == {"event": "connected", "version": "1.0.0"}
    assert peer.received[1][1]["start"]["client_state"] is None


async def test_a_mark_is_echoed_once_the_audio_before_it_played_or_at_once() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_telnyx_media_stream(url, call_control_id=CALL, token="t",
                                             stream_id="S1") as stream):
            await peer.connected.wait()
            await peer.send(mark("nothing-queued"))
            await peer.wait_for(lambda r: len(peer.frames("mark")) == 1)
            for _ in range(10):  # 200 ms of audio in one burst, then the mark
                await peer.send(media(b"\x01" * 160))
            await peer.send(mark("m1"))
            await stream.wait_for(lambda s: len(s.media) == 10)
            await peer.wait_for(lambda r: len(peer.frames("mark")) == 2)
            echoed_at = [t for t, m in peer.received if m["event"] == "mark"][1]

    assert [m.payload for m in stream.media] == [b"\x01" * 160] * 10
    assert stream.marks_echoed == ["nothing-queued", "m1"]
    echo = peer.frames("mark")[1]
    assert (echo["stream_id"], echo["mark"]) == ("S1", {"name": "m1"})
    assert int(echo["sequence_number"]) > int(peer.frames("mark")[0]["sequence_number"])
    # Not before the 200 ms had played: the simulator plays from the first frame's arrival
    # (same clock; load can only make the echo later).
    assert echoed_at >= stream.media[0].at + 10 * 0.02 - 1e-9


async def test_clear_drops_the_queue_and_echoes_the_pending_marks_at_once(mock_clock) -> None:
    # trio's clock stands still (MockClock, no autojump): the mark's playout time never comes,
    # so an echo can only be the clear's, sent at once.
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_telnyx_media_stream(url, call_control_id=CALL, token="t") as stream):
            await peer.connected.wait()
            await peer.send(media(b"\x02" * 160 * 100))  # two seconds in one frame
            await peer.send(mark("long"))
            await peer.send({"event": "clear"})
            await peer.wait_for(lambda r: bool(peer.frames("mark")))
    assert stream.marks_echoed == ["long"] and len(stream.clears) == 1
    assert trio.current_time() == 0  # no timer fired


async def test_reordering_swaps_adjacent_frames_deterministically() -> None:
    with trio.fail_after(10):
        async with websocket_server() as (url, peer):
            async with open_telnyx_media_stream(url, call_control_id=CALL, token=None,
                                                reorder_every=4) as stream:
                await stream.send_audio(b"\x03" * 160 * 12, realtime=False)
            await peer.wait_for(lambda r: r and r[-1][1]["event"] == "stop")

    frames = peer.frames("media")
    assert [int(f["media"]["chunk"]) for f in frames] == [1, 2, 3, 5, 4, 6, 7, 9, 8, 10, 11, 12]
    assert all(int(f["sequence_number"]) == int(f["media"]["chunk"]) + 1 for f in frames)
    assert all(int(f["media"]["timestamp"]) == (int(f["media"]["chunk"]) - 1) * 20
               for f in frames)
    assert stream.reordered == [4, 8, 12]


async def test_a_one_way_stream_drops_the_apps_audio_as_an_error() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_telnyx_media_stream(url, call_control_id=CALL, token=None,
                                             bidirectional=False) as stream):
            await peer.connected.wait()
            await peer.send(media(b"\x04" * 160 * 50))
            await peer.send(mark("after"))
            await peer.wait_for(lambda r: bool(peer.frames("mark")))
            await stream.send_dtmf("5")
            await stream.send_error(100002, "Unknown error", "Something broke.")
            await peer.wait_for(lambda r: "error" in peer.events())

    assert stream.media == [] and len(stream.dropped) == 1
    assert any("one-way" in error for error in stream.errors)
    assert peer.frames("dtmf")[0]["dtmf"] == {"digit": "5"}
    assert peer.frames("error")[0]["payload"] == {"code": 100002, "title": "Unknown error",
                                                  "detail": "Something broke."}


async def test_the_simulated_caller_streams_after_answer_and_stops_at_hangup() -> None:
    callee = CalleeScript(replies=["Sure."], stream_audio=True, reorder_every=5,
                          reply_delay_s=0.05, reply_seconds=0.2)
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    fake_telnyx(callee) as (sim, receiver, api)):
            call_id = await dial(api, receiver, stream_url=url, stream_auth_token="tok-9",
                                 stream_bidirectional_mode="rtp", stream_track="inbound_track")
            await peer.wait_for(lambda r: len(peer.frames("media")) >= 25)
            await peer.send(mark("greeting"))  # nothing queued: echoed at once
            await peer.send(media(b"\x05" * 160 * 5))
            await peer.send(mark("question"))  # echoed after 100 ms: then the callee answers
            await sim.wait_for(lambda: sim.calls[call_id].replies == ["Sure."])
            await action(api, call_id, "hangup")
            await sim.wait_ended(call_id)
            await peer.wait_for(lambda r: "stop" in peer.events())

    assert peer.headers["x-telnyx-streaming-auth-token"] == "tok-9"
    start = peer.frames("start")[0]
    assert start["start"]["call_control_id"] == call_id
    assert start["start"]["client_state"] == b64("call-1")
    assert [m["mark"]["name"] for m in peer.frames("mark")] == ["greeting", "question"]
    chunks = [int(f["media"]["chunk"]) for f in peer.frames("media")]
    assert chunks != sorted(chunks) and sorted(chunks) == list(range(1, len(chunks) + 1))
    assert len(peer.frames("media")) >= 25  # it streamed (its pace: the pace test)
    events = receiver.events()
    assert events[:3] == ["call.initiated", "call.answered", "streaming.started"]
    assert events.index("streaming.stopped") < events.index("call.hangup")
    assert receiver.received[2].payload["stream_url"] == url
    assert sim.calls[call_id].errors == []
