"""The daemon's media-stream registry: stream tokens, live streams and the inbound stream limit.

What operators rely on: a stream for a call is only accepted with that call's token from this
daemon run, once (the token dies when its stream starts) and within its lifetime, and
``streaming.maxInboundStreams`` caps the inbound callers that stream at once (the rest wait on
hold), whatever outbound calls are streaming.
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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_reply_for_a_call_names_the_same_token_until_its_stream_starts() -> None:
    registry = StreamRegistry()
    first = registry.token(CALL_A)
    assert registry.token(CALL_A) == first  # a retried webhook, TwiML fetched again
    assert registry.check_token(CALL_A, first)


def test_a_token_is_single_use_a_replayed_reply_opens_nothing() -> None:
    registry = StreamRegistry()
    first = registry.token(CALL_A)
    assert registry.check_token(CALL_A, first)
    registry.spend_token(CALL_A)  # the endpoint accepted the call's stream
    assert not registry.check_token(CALL_A, first)
    again = registry.token(CALL_A)  # a new stream needs a token minted from now on
    assert again != first
    assert registry.check_token(CALL_A, again) and not registry.check_token(CALL_A, first)


def test_spending_one_calls_token_leaves_other_calls_alone() -> None:
    registry = StreamRegistry()
    a, b = registry.token(CALL_A), registry.token(CALL_B)
    registry.spend_token(CALL_A)
    assert registry.check_token(CALL_B, b) and not registry.check_token(CALL_A, a)


def test_a_token_expires_when_no_stream_starts_within_its_lifetime() -> None:
    clock = FakeClock()
    registry = StreamRegistry(clock=clock)
    assert registry.token_ttl_s == 180.0  # the documented default
    token = registry.token(CALL_A)
    clock.now += 179.9
    assert registry.check_token(CALL_A, token)
    clock.now += 0.2
    assert not registry.check_token(CALL_A, token)
    assert registry.token(CALL_A) != token


def test_an_ageing_token_is_replaced_and_the_old_one_lives_out_its_time() -> None:
    clock = FakeClock()
    registry = StreamRegistry(clock=clock, token_ttl_s=100.0)
    old = registry.token(CALL_A)
    clock.now += 49.0
    assert registry.token(CALL_A) == old  # young: still the one every reply names
    clock.now += 2.0
    new = registry.token(CALL_A)  # past half its life: a reply now gets a fresh one
    assert new != old
    assert registry.check_token(CALL_A, old) and registry.check_token(CALL_A, new)
    clock.now += 50.0
    assert not registry.check_token(CALL_A, old) and registry.check_token(CALL_A, new)
    registry.spend_token(CALL_A)
    assert not registry.check_token(CALL_A, new)


def test_expired_tokens_are_forgotten() -> None:
    clock = FakeClock()
    registry = StreamRegistry(clock=clock, token_ttl_s=10.0)
    for n in range(5000):
        registry.token(f"CA{n:032d}")
    clock.now += 10.0
    registry.token(CALL_A)
    assert [registry.check_token(f"CA{n:032d}", "x") for n in range(3)] == [False] * 3
    assert len(registry._tokens) == 1  # only the live one is held


@pytest.mark.parametrize("ttl", [0.0, -1.0])
def test_a_lifetime_that_is_not_positive_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError):
        StreamRegistry(token_ttl_s=ttl)


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
