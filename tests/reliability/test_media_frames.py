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

import pytest
import trio

from tests.reliability.media_hostile import BAD_FRAMES, OVERSIZED, RawSocket, every_bad_frame
from tests.reliability.media_peers import (
    CARRIERS,
    STREAM_PATH,
    Carrier,
    Endpoint,
    barrage,
    endpoint,
    flood,
    log_lines,
    replayed_stream,
)
from voicecall_cli.daemon.media.guard import FrameLimits
from voicecall_cli.providers.audio import tone_source
from voicecall_cli.simulator.media import Tone
from voicecall_cli.simulator.twilio.media import open_twilio_media_stream

LIMITS = FrameLimits()


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
                assert legit.frames_received >= 25
                with trio.fail_after(10):  # and all of the caller's audio came in
                    while e.audio["call-a"] < 25:
                        await trio.sleep(0.01)
            assert closes, "no hostile socket was closed"
            assert {code for code, _ in closes} == {1008}, Counter(closes)
            assert "Too many malformed messages" in {reason for _, reason in closes}
            # hundreds of bad frames on dozens of sockets: a bounded, short log
            assert lines <= 40, [r.getMessage() for r in caplog.records[before:]][:100]
            async with carrier.open(e.url, "call-b", e.token("call-b")):  # still serving
                await e.wait_stream("call-b")


@pytest.mark.parametrize("carrier", CARRIERS, ids=[c.name for c in CARRIERS])
async def test_an_authenticated_stream_survives_odd_frames_then_is_closed_for_a_flood(
        carrier: Carrier) -> None:
    frames = every_bad_frame(carrier.name)
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
async def test_frames_not_utf8_oversized_or_binary_close_only_their_socket(
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
                await raw.send_frame(0x1, OVERSIZED)  # over hypercorn's 64 KB limit
                assert await raw.close_code() == 1009
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


@pytest.mark.reliability
@pytest.mark.parametrize("carrier_name", [c.name for c in CARRIERS])
async def test_a_real_daemon_under_a_flood_of_bad_frames_keeps_its_calls(carrier_name: str
                                                                         ) -> None:
    from tests.conformance.carriers import HARNESSES
    from tests.conformance.session import HEARD_OVER_STREAM, open_session

    carrier = next(h for h in HARNESSES if h.name == carrier_name)()
    frames = every_bad_frame(carrier_name)
    with trio.fail_after(120):
        async with open_session(carrier, media=True) as s:
            async with s.streamed_call("Hello, the clinic calling.") as (call_a, pid_a,
                                                                           caller):
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
            async with s.streamed_call("Second call.") as (call_b, _pid_b, hostile):
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
            _call_id, sid, request = await call_with_stream(
                daemon, sim, "Hello, this greeting plays on while a replay is tried. " * 4)
            async with open_twilio_media_stream(request.url, call_sid=sid,
                                                token=request.token) as stream:
                await stream.wait_for(lambda st: st.frames_received > 5)
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
                media = stream.frames_received
                await stream.wait_for(lambda st: st.frames_received > media)  # still streaming
                assert not stream.closed.is_set()
