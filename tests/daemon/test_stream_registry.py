"""The daemon's media-stream registry: stream tokens, live streams and the inbound stream limit.

What operators rely on: a stream for a call is only accepted with that call's token from this
daemon run, and ``streaming.maxInboundStreams`` caps the inbound callers that stream at once
(the rest wait on hold), whatever outbound calls are streaming.
"""

from __future__ import annotations

import re

import pytest

from voicecall_cli.daemon.media.registry import Stream, StreamRegistry

CALL_A = "CA0000000000000000000000000000000a"
CALL_B = "CA0000000000000000000000000000000b"
CALL_C = "CA0000000000000000000000000000000c"


def stream(call: str, stream_id: str = "MZ1", *, inbound: bool = False) -> Stream:
    """A registered stream; the registry never touches its playback."""
    return Stream(call, stream_id, playback=None, inbound=inbound)  # type: ignore[arg-type]


# -- tokens ----------------------------------------------------------------------------------------


def test_a_calls_token_is_stable_for_the_registrys_life() -> None:
    registry = StreamRegistry()
    first = registry.token(CALL_A)
    registry.add(stream(CALL_A))
    registry.remove(registry.current(CALL_A))  # streams come and go; the token stays
    assert registry.token(CALL_A) == first
    assert registry.check_token(CALL_A, first)


def test_tokens_differ_per_call_and_are_url_safe() -> None:
    registry = StreamRegistry()
    tokens = {registry.token(call) for call in (CALL_A, CALL_B, CALL_C)}
    assert len(tokens) == 3
    for token in tokens:  # it travels in a stream URL's query and in TwiML/XML parameters
        assert re.fullmatch(r"[A-Za-z0-9_-]{20,}", token), token


def test_a_token_from_another_daemon_run_is_refused() -> None:
    earlier, now = StreamRegistry(), StreamRegistry()
    assert earlier.token(CALL_A) != now.token(CALL_A)
    assert not now.check_token(CALL_A, earlier.token(CALL_A))
    assert now.check_token(CALL_A, now.token(CALL_A))


def test_the_same_secret_gives_the_same_tokens() -> None:
    secret = b"s" * 32
    assert StreamRegistry(secret=secret).token(CALL_A) == StreamRegistry(secret=secret).token(
        CALL_A)
    assert StreamRegistry(secret=secret).token(CALL_A) != StreamRegistry(
        secret=b"t" * 32).token(CALL_A)


def test_check_token_accepts_only_the_exact_token() -> None:
    registry = StreamRegistry()
    token = registry.token(CALL_A)
    assert registry.check_token(CALL_A, token)
    refused = [
        None,
        "",
        "wrong-token",
        registry.token(CALL_B),  # another call's token
        token[:-1],
        token + "x",
        token.swapcase(),
        f" {token}",
    ]
    for candidate in refused:
        assert not registry.check_token(CALL_A, candidate), candidate
    assert not registry.check_token(CALL_B, token)


@pytest.mark.parametrize(("call", "token"), [(CALL_A, "\ud800"), ("\udfff", "anything")])
def test_check_token_refuses_strings_that_are_not_encodable(call: str, token: str) -> None:
    assert StreamRegistry().check_token(call, token) is False


# -- live streams and the inbound limit ------------------------------------------------------------


def test_admits_inbound_follows_the_limit_as_inbound_streams_come_and_go() -> None:
    registry = StreamRegistry(max_inbound_streams=2)
    a, b = stream(CALL_A, inbound=True), stream(CALL_B, inbound=True)
    assert registry.admits_inbound()
    registry.add(a)
    assert registry.admits_inbound() and registry.has_stream(CALL_A)
    registry.add(b)
    assert not registry.admits_inbound()
    assert registry.remove(a)
    assert registry.admits_inbound() and not registry.has_stream(CALL_A)
    registry.add(stream(CALL_C, inbound=True))
    assert not registry.admits_inbound()
    assert registry.remove(b)
    assert registry.admits_inbound()


def test_outbound_streams_never_count_against_the_inbound_limit() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    for n in range(5):
        registry.add(stream(f"CA-out-{n}", f"MZ{n}"))
    assert registry.admits_inbound()
    registry.add(stream(CALL_A, inbound=True))
    assert not registry.admits_inbound()
    registry.remove(registry.current("CA-out-0"))
    assert not registry.admits_inbound()  # freeing an outbound stream frees no inbound slot


def test_the_default_limit_is_one_inbound_stream() -> None:
    registry = StreamRegistry()
    registry.add(stream(CALL_A, inbound=True))
    assert not registry.admits_inbound()


def test_a_reconnected_stream_replaces_the_old_one_and_counts_once() -> None:
    registry = StreamRegistry(max_inbound_streams=2)
    old, new = stream(CALL_A, "MZ1", inbound=True), stream(CALL_A, "MZ2", inbound=True)
    registry.add(old)
    registry.add(new)
    assert registry.current(CALL_A) is new
    assert registry.admits_inbound()  # one call, one stream: one of two slots taken


def test_removing_a_stream_the_call_has_since_replaced_changes_nothing() -> None:
    registry = StreamRegistry(max_inbound_streams=1)
    old, new = stream(CALL_A, "MZ1", inbound=True), stream(CALL_A, "MZ2", inbound=True)
    registry.add(old)
    registry.add(new)
    assert registry.remove(old) is False
    assert registry.current(CALL_A) is new and registry.has_stream(CALL_A)
    assert not registry.admits_inbound()
    assert registry.remove(new) is True
    assert registry.current(CALL_A) is None and not registry.has_stream(CALL_A)
    assert registry.admits_inbound()
    assert registry.remove(new) is False  # removing twice is harmless


def test_a_call_without_a_stream_has_none() -> None:
    registry = StreamRegistry()
    registry.add(stream(CALL_A))
    assert not registry.has_stream(CALL_B) and registry.current(CALL_B) is None
    assert registry.remove(stream(CALL_B)) is False
    assert registry.has_stream(CALL_A)


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="max_inbound_streams"):
        StreamRegistry(max_inbound_streams=limit)
