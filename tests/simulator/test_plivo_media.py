"""Plivo's side of ``<Stream>`` against an independent websocket server (trio-websocket's own,
see :mod:`tests.simulator.websocket_peer`): the frames alone, then driven by a call's XML, with
the stream status callbacks and ``keepCallAlive``."""

from __future__ import annotations

import base64

import trio

from tests.simulator.plivo_fakes import answered_call, fake_plivo
from tests.simulator.websocket_peer import websocket_server
from voicecall_cli.providers.audio import mulaw_encode, sine_pcm16
from voicecall_cli.simulator.plivo.media import Tone, open_plivo_media_stream
from voicecall_cli.simulator.plivo.simulator import CalleeScript

CALL = "b5d8e2a6-0c5d-4e1e-9d2b-3f3c0c2a9a11"
STREAM = "20e7b5a4-1f53-4ad4-b7e4-6f1f1e3c0b7e"


def play(payload: bytes, content_type: str = "audio/x-mulaw", rate: int = 8000) -> dict:
    return {"event": "playAudio", "media": {"contentType": content_type, "sampleRate": rate,
                                            "payload": base64.b64encode(payload).decode()}}


def checkpoint(name: str) -> dict:
    return {"event": "checkpoint", "streamId": STREAM, "name": name}


async def test_it_speaks_plivos_protocol_at_real_time_pace() -> None:
    with trio.fail_after(10):
        async with websocket_server() as (url, peer):
            async with open_plivo_media_stream(
                    url, call_uuid=CALL, stream_id=STREAM, account_id="MAXXXXXXXXXXXXXXXXXX",
                    extra_headers="callId=c1,turn=2") as stream:
                started = trio.current_time()
                sent = await stream.send_audio(Tone(440, 0.2))
                await stream.send_dtmf("5")
                await peer.wait_for(lambda r: len(r) == 12)
            await peer.wait_for(lambda r: peer.ws is not None and peer.ws.closed is not None)

    assert sent == 10
    assert peer.events() == ["start", *["media"] * 10, "dtmf"]  # no stop frame: just a close
    assert peer.received[0][1] == {
        "event": "start", "sequenceNumber": 1,
        "start": {"callId": CALL, "streamId": STREAM, "accountId": "MAXXXXXXXXXXXXXXXXXX",
                  "tracks": ["inbound"],
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}},
        "extra_headers": "callId=c1,turn=2"}
    frames = peer.frames("media")
    assert [f["sequenceNumber"] for f in frames] == list(range(2, 12))
    assert [f["media"]["chunk"] for f in frames] == list(range(1, 11))
    assert [f["media"]["timestamp"] for f in frames] == [str(n * 20) for n in range(10)]
    assert {(f["streamId"], f["media"]["track"], f["extra_headers"]) for f in frames} == {
        (STREAM, "inbound", "callId=c1,turn=2")}
    audio = b"".join(base64.b64decode(f["media"]["payload"]) for f in frames)
    assert audio == mulaw_encode(sine_pcm16(440, 0.2, amplitude=8000))
    times = [t for t, m in peer.received if m["event"] == "media"]
    # The tenth frame leaves 180 ms after send_audio began (absolute schedule); a lower
    # bound from before the call, so a loaded machine can only make it later.
    assert times[-1] - started >= 9 * 0.02 - 1e-9
    dtmf = peer.frames("dtmf")[0]
    assert (dtmf["sequenceNumber"], dtmf["dtmf"]["digit"], dtmf["dtmf"]["track"]) == (
        12, "5", "inbound")


async def test_linear_pcm_streams_say_so_and_carry_16_bit_samples() -> None:
    with trio.fail_after(10):
        async with websocket_server() as (url, peer):
            async with open_plivo_media_stream(url, call_uuid=CALL, stream_id=STREAM,
                                               content_type="audio/x-l16;rate=16000") as stream:
                await stream.send_audio(Tone(300, 0.04), realtime=False)
                await peer.send(play(b"\x00\x01" * 320, "audio/x-l16", 16000))
                await stream.wait_for(lambda s: len(s.media) == 1)
            await peer.wait_for(lambda r: len(peer.frames("media")) == 2)

    assert peer.received[0][1]["start"]["mediaFormat"] == {"encoding": "audio/x-l16",
                                                            "sampleRate": 16000}
    assert [len(base64.b64decode(f["media"]["payload"])) for f in peer.frames("media")] == [
        640, 640]
    assert len(stream.media[0].payload) == 160 and stream.errors == []


async def test_a_checkpoint_is_answered_once_the_audio_before_it_played() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_plivo_media_stream(url, call_uuid=CALL, stream_id=STREAM) as stream):
            await peer.connected.wait()
            await peer.send(checkpoint("nothing-queued"))
            await peer.wait_for(lambda r: len(peer.frames("playedStream")) == 1)
            for _ in range(10):  # 200 ms of audio in one burst, then the checkpoint
                await peer.send(play(b"\x01" * 160))
            await peer.send(checkpoint("c1"))
            await stream.wait_for(lambda s: len(s.media) == 10)
            await peer.wait_for(lambda r: len(peer.frames("playedStream")) == 2)
            played_at = [t for t, m in peer.received if m["event"] == "playedStream"][1]

    assert stream.marks_echoed == ["nothing-queued", "c1"]
    played = peer.frames("playedStream")[1]
    assert (played["streamId"], played["name"]) == (STREAM, "c1")
    assert played["sequenceNumber"] > peer.frames("playedStream")[0]["sequenceNumber"]
    # Not before the 200 ms had played: the simulator plays from the first frame's arrival
    # (same clock; load can only make the echo later).
    assert played_at >= stream.media[0].at + 10 * 0.02 - 1e-9


async def test_clear_audio_drops_the_buffer_and_says_so() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_plivo_media_stream(url, call_uuid=CALL, stream_id=STREAM) as stream):
            await peer.connected.wait()
            await peer.send(play(b"\x02" * 160 * 100))  # two seconds in one frame
            await peer.send(checkpoint("long"))
            await peer.send({"event": "clearAudio", "streamId": STREAM})
            await peer.wait_for(lambda r: bool(peer.frames("playedStream")))
    assert peer.events()[1:] == ["clearedAudio", "playedStream"]
    assert peer.frames("clearedAudio")[0]["streamId"] == STREAM
    assert stream.marks_echoed == ["long"] and len(stream.clears) == 1


async def test_frames_plivo_would_not_take_are_recorded_and_ignored() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    open_plivo_media_stream(url, call_uuid=CALL, stream_id=STREAM) as stream):
            await peer.connected.wait()
            await peer.send(play(b"\x00" * 320, "audio/x-l16", 8000))  # a mu-law stream
            await peer.send({"event": "media", "media": {"payload": "AAAA"}})  # Twilio's
            await peer.send({"event": "checkpoint", "name": "no-stream-id"})
            await peer.send({"event": "clearAudio", "streamId": "someone-else"})
            await peer.send({"event": "sendDTMF", "dtmf": "12"})
            await peer.send(checkpoint("last"))
            await peer.wait_for(lambda r: bool(peer.frames("playedStream")))

    assert stream.media == [] and stream.clears == [] and stream.dtmf_sent == ["12"]
    assert len(stream.errors) == 4
    assert "contentType 'audio/x-l16'" in stream.errors[0]
    assert "unexpected frame from the app: 'media'" in stream.errors[1]
    assert [m["name"] for m in peer.frames("playedStream")] == ["last"]


async def test_the_simulated_caller_streams_and_keep_call_alive_waits_for_the_end() -> None:
    callee = CalleeScript(replies=["Sure."], stream_audio=True, reply_delay_s=0.05,
                          reply_seconds=0.2)
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer),
                    fake_plivo(callee=callee) as (sim, app, api)):
            app.routes["/answer"] = (
                f'<Response><Stream bidirectional="true" keepCallAlive="true" '
                f'contentType="audio/x-mulaw;rate=8000" extraHeaders="callId=42" '
                f'statusCallbackUrl="{app.url("/stream")}">{url}</Stream>'
                '<Speak>After the stream.</Speak></Response>')
            call_uuid = await answered_call(sim, api, app)
            request = await sim.wait_for_stream(call_uuid)
            await peer.wait_for(lambda r: len(peer.frames("media")) >= 25)
            assert sim.calls[call_uuid].spoken == []  # held by keepCallAlive
            stream_id = peer.frames("start")[0]["start"]["streamId"]
            await peer.send({**checkpoint("greeting"), "streamId": stream_id})
            await peer.send(play(b"\x05" * 160 * 5))
            await peer.send({**checkpoint("question"), "streamId": stream_id})
            await sim.wait_for(lambda: sim.calls[call_uuid].replies == ["Sure."])
            assert peer.ws is not None
            await peer.ws.aclose()
            call = await sim.wait_ended(call_uuid)

    start = peer.frames("start")[0]
    assert (start["start"]["callId"], start["extra_headers"]) == (call_uuid, "callId=42")
    assert stream_id == request.stream_id and request.extra_headers == "callId=42"
    assert [m["name"] for m in peer.frames("playedStream")] == ["greeting", "question"]
    assert len(peer.frames("media")) >= 25  # it streamed (its pace: the pace test)
    assert call.spoken == ["After the stream."]
    started, stopped = (r.params for r in app.on("/stream"))
    assert (started["Event"], stopped["Event"]) == ("StartStream", "StopStream")
    assert started["StreamID"] == stopped["StreamID"] == stream_id
    assert (started["CallUUID"], started["Direction"]) == (call_uuid, "outbound")
    assert started["Timestamp"] and "StatusReason" not in started and stopped["StatusReason"]
    assert app.events()[-1] == "Hangup" and call.errors == []


async def test_a_test_plays_plivos_side_and_a_hangup_closes_the_socket() -> None:
    with trio.fail_after(10):
        async with (websocket_server() as (url, peer), fake_plivo() as (sim, app, api)):
            app.routes["/answer"] = (
                f'<Response><Stream keepCallAlive="true" statusCallbackUrl="{app.url("/s")}" '
                f'statusCallbackMethod="GET">{url}</Stream><Speak>Never.</Speak></Response>')
            call_uuid = await answered_call(sim, api, app)
            request = await sim.wait_for_stream(call_uuid)
            async with sim.connect_stream(call_uuid, echo_marks=False) as media:
                await peer.wait_for(lambda r: bool(peer.frames("start")))
                await peer.send({"event": "checkpoint", "streamId": request.stream_id,
                                 "name": "held"})
                await media.wait_for(lambda s: len(s.messages) == 1)
                await api.delete(f"/Call/{call_uuid}/")
                await media.closed.wait()
            call = await sim.wait_ended(call_uuid)

    assert request.content_type == "audio/x-l16;rate=8000"  # Plivo's default
    assert peer.frames("start")[0]["start"]["mediaFormat"] == {"encoding": "audio/x-l16",
                                                               "sampleRate": 8000}
    assert peer.frames("playedStream") == []  # echo_marks=False: the test answers them
    assert media.plays_audio is False  # not bidirectional
    assert [r.event for r in app.received if r.path in ("/s", "/hangup")] == [
        "StartStream", "StopStream", "Hangup"]
    assert all(r.method == "GET" and r.signature_valid for r in app.on("/s"))
    assert call.spoken == [] and call.hangups == 1


async def test_without_keep_call_alive_the_xml_goes_on_and_a_refused_stream_is_dropped() -> None:
    callee = CalleeScript(stream_audio=True)
    with trio.fail_after(10):
        async with fake_plivo(callee=callee) as (sim, app, api):
            app.routes["/answer"] = (
                f'<Response><Stream statusCallbackUrl="{app.url("/s")}">ws://127.0.0.1:9/nope'
                '</Stream><Speak>Straight on.</Speak><Wait length="20"/></Response>')
            call = await sim.wait_ended(await answered_call(sim, api, app))

    assert call.spoken == ["Straight on."]
    dropped = app.on("/s")[0].params
    assert dropped["Event"] == "DroppedStream" and dropped["StatusReason"]
    assert any("media stream" in e for e in call.errors)
    assert app.events()[-1] == "Hangup"


async def test_a_stream_nobody_joins_ends_by_the_test_hook_or_its_timeout() -> None:
    with trio.fail_after(10):
        async with fake_plivo() as (sim, app, api):
            app.routes["/answer"] = ('<Response><Stream keepCallAlive="true">ws://127.0.0.1:9/s'
                                     '</Stream><Stream keepCallAlive="true" streamTimeout="10">'
                                     'ws://127.0.0.1:9/t</Stream><Speak>Done.</Speak></Response>')
            call_uuid = await answered_call(sim, api, app)
            await sim.wait_for_stream(call_uuid)
            sim.end_stream(call_uuid)
            call = await sim.wait_ended(call_uuid)  # the second one times out in 0.1 s
    assert [s.url for s in call.streams] == ["ws://127.0.0.1:9/s", "ws://127.0.0.1:9/t"]
    assert call.spoken == ["Done."]
