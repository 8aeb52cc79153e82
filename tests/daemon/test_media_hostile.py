"""Hostile input on the media-stream endpoint, through the fake socket on trio's MockClock:
malformed upgrade requests, frames the codec cannot decode, floods before the start, and
failures while handling a frame. What a user relies on: such a socket is closed (or refused)
with a clear reason, the endpoint keeps serving every other socket, a started stream's call
hears why its stream was closed, and the log stays short.
"""

from __future__ import annotations

import json
import logging

import pytest
import trio

from tests.daemon.test_media_playback import CALL, FakeSocket, harness, running
from voicecall_cli.daemon.media.guard import FrameLimits
from voicecall_cli.providers.media_codec import AudioIn
from voicecall_cli.providers.twilio.media import TwilioMediaCodec

TOO_MANY_MALFORMED = (1008, "Too many malformed messages")
LIMITS = FrameLimits()
KEY = (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455's sample: 16 bytes
__all__ = ["harness"]  # the fixture, shared with the playback tests

# Frames no Twilio codec can decode, one of every kind.
BAD_FRAMES = {
    "not JSON": "hello",
    "deep nesting (60 KB)": "[" * 60_000,
    "deep nesting in a field": '{"event":"start","start":' + "[" * 30_000 + "}",
    "a JSON array": "[1, 2, 3]",
    "event not a string": '{"event": 5}',
    "media without an object": '{"event":"media","media":"x"}',
    "payload not base64": '{"event":"media","media":{"payload":"%%%"}}',
    "payload a number": '{"event":"media","media":{"payload":12}}',
    "chunk is Infinity": '{"event":"media","media":{"payload":"","chunk":Infinity}}',
    "streamSid a list": '{"event":"mark","streamSid":[1],"mark":{"name":"m"}}',
    "mark name an object": '{"event":"mark","mark":{"name":{}}}',
    "start without streamSid": '{"event":"start","start":{"callSid":"CA1"}}',
    "customParameters a list": ('{"event":"start","streamSid":"MZ1","start":'
                                '{"callSid":"CA1","customParameters":[1]}}'),
    "lone surrogate escape": '{"event":"\\ud800"',
    "invalid UTF-8 (binary)": b'{"event":"media","media":{"payload":"\xff\xfe"}}',
    "binary garbage": bytes(range(256)),
}


def start_frame(token: str | None, call: str = CALL) -> str:
    return json.dumps({"event": "start", "streamSid": "MZ1", "start": {
        "callSid": call, "customParameters": {"token": token} if token else {}}})


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


# -- the upgrade request ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", [b"[::1", b"bad host!!", b"", b"user@example.com",
                                  b"example.com:99999", b"example.com:http", b"[::1]x",
                                  b"-bad.example.com", b"exa_mple.com", b"caf\xc3\xa9.example",
                                  b"a" * 254, b"[fe80::1%eth0]"])
async def test_an_upgrade_with_an_invalid_host_is_answered_400_and_holds_nothing(
        harness, clock, host: bytes) -> None:
    h = await running(harness, max_pending_per_ip=2)
    for _ in range(5):  # more than the per-IP pending limit
        bad = FakeSocket()
        bad.scope["headers"] = [(b"host", host), KEY]
        await h.connect_socket(bad)
        assert bad.refused == 400 and not bad.accepted
    good = [await h.connect() for _ in range(2)]  # both pending slots are still free
    good[1].start(CALL, h.token)
    await settle()
    assert h.streams.has_stream(CALL) and good[0].close is None


@pytest.mark.parametrize("headers", [
    [KEY], [(b"host", b"a.example.com"), (b"host", b"b.example"), KEY],
    [(b"host", b"a.example.com")], [(b"host", b"a.example.com"), (b"sec-websocket-key", b"x")],
    [(b"host", b"a.example.com"), (b"sec-websocket-key", b"AAAA")],  # 3 bytes, not 16
    [(b"host", b"a.example.com"), KEY, KEY]],
    ids=["no host", "two hosts", "no key", "key not base64", "short key", "two keys"])
async def test_an_upgrade_without_one_host_and_one_valid_key_is_answered_400(harness, clock,
                                                                             headers) -> None:
    h = await running(harness)
    sock = FakeSocket()
    sock.scope["headers"] = headers
    await h.connect_socket(sock)
    assert sock.refused == 400 and not sock.accepted


@pytest.mark.parametrize("host", [b"127.0.0.1:8443", b"[::1]:3334", b"[2001:db8::1]",
                                  b"voice.example.com", b"voice.example.com.", b"localhost",
                                  b"abc-123.ngrok-free.app:443"])
async def test_well_formed_hosts_are_upgraded(harness, clock, host: bytes) -> None:
    h = await running(harness)
    sock = FakeSocket()
    sock.scope["headers"] = [(b"Host", host), (b"Sec-WebSocket-Key", KEY[1])]
    await h.connect_socket(sock)
    sock.start(CALL, h.token)
    await settle()
    assert sock.accepted and h.streams.has_stream(CALL)


# -- malformed frames ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(BAD_FRAMES))
async def test_a_malformed_frame_before_the_start_is_ignored_and_the_stream_still_starts(
        harness, clock, kind: str) -> None:
    h = await running(harness)
    sock = await h.connect()
    sock.push_raw(BAD_FRAMES[kind])
    await settle()
    assert sock.close is None
    sock.push_raw(start_frame(h.token))
    await settle()
    assert h.streams.has_stream(CALL)


@pytest.mark.parametrize("kind", list(BAD_FRAMES))
async def test_a_malformed_frame_after_the_start_is_ignored_and_audio_flows(harness, clock,
                                                                          kind: str) -> None:
    h = await running(harness)
    sock = await h.started_socket()
    sock.push_raw(BAD_FRAMES[kind])
    sock.push_raw('{"event":"media","media":{"payload":"/w=="}}')
    await settle()
    assert sock.close is None and h.audio == [(CALL, b"\xff")]


async def test_an_unauthenticated_socket_is_closed_after_a_few_malformed_frames(
        harness, clock, caplog) -> None:
    h = await running(harness)
    sock = await h.connect()
    kinds = list(BAD_FRAMES.values())
    for n in range(LIMITS.bad_before_start):
        sock.push_raw(kinds[n % len(kinds)])
    await settle()
    assert sock.close is None
    sock.push_raw("one too many")
    await settle()
    assert sock.close == TOO_MANY_MALFORMED
    assert not h.starts
    lines = [r.getMessage() for r in caplog.records if r.name == "voicecall.media"]
    assert any("Too many malformed messages" in line for line in lines)
    assert sum("malformed message ignored" in line for line in lines) == 1  # coalesced


async def test_a_stream_is_closed_after_a_run_of_malformed_frames_and_its_call_hears_why(
        harness, clock) -> None:
    errors: list[tuple[str, str]] = []
    h = await running(harness, on_error=lambda *a: errors.append(a))
    sock = await h.started_socket()
    for _ in range(3):  # interleaved with good frames: a carrier's odd frame is tolerated
        for _ in range(LIMITS.bad_in_a_row):
            sock.push_raw("garbage")
        sock.push_raw('{"event":"media","media":{"payload":"/w=="}}')
    await settle()
    assert sock.close is None and errors == []
    for _ in range(LIMITS.bad_in_a_row + 1):
        sock.push_raw("garbage")
    await settle()
    assert sock.close == TOO_MANY_MALFORMED
    assert errors == [(CALL, "media stream closed: Too many malformed messages")]
    assert h.stops == [(CALL, "MZ1")] and not h.streams.has_stream(CALL)


@pytest.mark.parametrize("frame", ['{"event":"connected","protocol":"Call"}', "", b""],
                         ids=["connected", "empty text", "empty binary"])
async def test_a_flood_of_frames_before_the_start_is_closed(harness, clock, frame) -> None:
    h = await running(harness)
    sock = await h.connect()
    for _ in range(LIMITS.frames_before_start):
        sock.push_raw(frame)
    await settle()
    assert sock.close is None
    sock.push_raw(frame)
    await settle()
    assert sock.close == (1008, "Too many messages before start")


# -- failures of ours while handling a frame -------------------------------------------------------


class SloppyCodec(TwilioMediaCodec):
    """Twilio's framing, plus a frame ``bad-sequence`` that decodes to audio with a sequence
    number that is not a number (a codec bug the endpoint must survive)."""

    def decode(self, frame):
        if frame == "bad-sequence":
            return AudioIn(b"\xff", sequence="seven")  # type: ignore[arg-type]
        if frame == "sequence-1":
            return AudioIn(b"\xff", sequence=1)
        return super().decode(frame)


async def test_a_failure_handling_a_frame_closes_only_that_socket_1011(harness, clock) -> None:
    errors: list[tuple[str, str]] = []
    h = await running(harness, codec=SloppyCodec(), on_error=lambda *a: errors.append(a))
    sock = await h.started_socket()
    sock.push_raw("bad-sequence")
    sock.push_raw("sequence-1")  # comparing "seven" with 1 raises TypeError in our reorder
    await settle()
    assert sock.close == (1011, "Internal error")
    assert len(errors) == 1 and errors[0][0] == CALL and "TypeError" in errors[0][1]
    again = await h.connect()  # the endpoint lives on: a new stream for the call starts
    again.start(CALL, h.registry.token(CALL), stream_sid="MZ2")
    await settle()
    assert h.registry.current(CALL).stream_id == "MZ2"


async def test_a_failing_liveness_check_closes_the_socket_and_the_endpoint_lives(
        harness, clock) -> None:
    def broken(_call: str) -> bool:
        raise RuntimeError("store unavailable")

    h = await running(harness, is_live_call=broken)
    sock = await h.connect()
    sock.start(CALL, h.token)
    await settle()
    assert sock.close == (1011, "Internal error") and not h.starts
    other = await h.connect()
    assert other.accepted and other.close is None


# -- the log stays short ---------------------------------------------------------------------------


async def test_two_hundred_hostile_sockets_write_a_bounded_log(harness, clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="voicecall.media")
    h = await running(harness, max_pending=1000, max_pending_per_ip=1000, max_connections=1000)
    for n in range(200):
        sock = await h.connect()
        for _ in range(LIMITS.bad_before_start + 1):
            sock.push_raw(BAD_FRAMES["deep nesting (60 KB)"] if n % 2 else "garbage")
        await settle()
        assert sock.close == TOO_MANY_MALFORMED
    lines = [r for r in caplog.records if r.name == "voicecall.media"]
    # 200 sockets x (9 bad frames + a close): 2,000 events; the limiter writes a few dozen
    assert len(lines) <= 150, len(lines)
    h.streams.log.limiter.flush()
    assert "suppressed" in caplog.records[-1].getMessage()


# -- events out of order ---------------------------------------------------------------------------


MEDIA = '{"event":"media","streamSid":"MZ1","media":{"payload":"/w=="}}'
MARK = '{"event":"mark","streamSid":"MZ1","mark":{"name":"never-sent"}}'
DTMF = '{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"5"}}'
STOP = '{"event":"stop","streamSid":"MZ1","stop":{}}'


async def test_events_before_the_start_are_dropped_and_a_second_start_is_ignored(
        harness, clock) -> None:
    digits: list[tuple[str, str]] = []
    h = await running(harness, on_dtmf=lambda *a: digits.append(a))
    sock = await h.connect()
    for frame in (MEDIA, MARK, DTMF, STOP, MEDIA):
        sock.push_raw(frame)
    await settle()
    assert sock.close is None and h.audio == [] and digits == [] and h.stops == []
    sock.push_raw(start_frame(h.token))
    sock.push_raw(json.dumps({"event": "start", "streamSid": "MZ-other", "start": {
        "callSid": "CA-other", "customParameters": {"token": h.registry.token("CA-other")}}}))
    sock.push_raw(MARK)  # a mark we never sent: nothing to settle
    sock.push_raw(MEDIA)
    sock.push_raw(DTMF)
    await settle()
    assert h.starts == [(CALL, "MZ1")] and not h.streams.has_stream("CA-other")
    assert h.audio == [(CALL, b"\xff")] and digits == [(CALL, "5")]
    sock.push_raw(STOP)
    sock.push_raw(MEDIA)  # after the stop: the stream is over
    await settle()
    assert sock.close == (1000, "Stream stopped")
    assert h.stops == [(CALL, "MZ1")] and h.audio == [(CALL, b"\xff")]


async def test_a_peer_gone_while_we_answer_the_upgrade_ends_only_that_request(
        harness, clock, caplog) -> None:
    h = await running(harness, max_pending_per_ip=2, max_connections=3)

    async def reset(_message: dict) -> None:
        raise OSError("connection reset by peer")

    for _ in range(4):  # more than the connection and pending limits: nothing is held
        sock = FakeSocket()
        await h.streams.asgi(sock.scope, sock.receive, reset)  # returns, raises nothing
    good = await h.connect()
    good.start(CALL, h.token)
    await settle()
    assert h.streams.has_stream(CALL)
    failures = [r for r in caplog.records if "upgrade failed" in r.getMessage()]
    assert len(failures) == 4 and failures[0].exc_info and not failures[1].exc_info
