"""The replay cache keeps each first answer exactly as long as its key (issue #14): a key that
is still a replay always has the answer to give, so the pipeline never parses a replay."""

import pytest

from voicecall_cli.providers.replay import ReplayCache


def test_a_kept_answer_is_returned_while_its_key_is_a_replay():
    cache: ReplayCache[str] = ReplayCache(window_ms=1_000)
    assert cache.seen("a", now_ms=0) is False
    assert cache.kept("a") is None  # seen, answer not known yet
    cache.keep("a", "first answer", cost=100)
    assert cache.seen("a", now_ms=999) is True
    assert cache.kept("a") == "first answer"
    assert cache.kept_bytes == 100


def test_the_answer_leaves_with_its_expired_key():
    cache: ReplayCache[str] = ReplayCache(window_ms=1_000)
    cache.seen("a", now_ms=0)
    cache.keep("a", "old", cost=10)
    assert cache.seen("a", now_ms=1_000) is False  # expired: a new delivery
    assert cache.kept("a") is None and cache.kept_bytes == 0


def test_keys_evicted_for_the_key_cap_take_their_answers_with_them():
    cache: ReplayCache[str] = ReplayCache(window_ms=10_000, max_keys=3)
    for key in "abcd":
        cache.seen(key, now_ms=0)
        cache.keep(key, key.upper(), cost=1)
    assert [cache.kept(key) for key in "abcd"] == [None, "B", "C", "D"]
    assert cache.kept_bytes == 3
    assert cache.seen("b", now_ms=1) is True and cache.kept("b") == "B"


def test_answers_past_the_byte_budget_evict_the_oldest_keys_with_their_answers():
    cache: ReplayCache[str] = ReplayCache(window_ms=10_000, max_kept_bytes=250)
    for key in "abc":
        cache.seen(key, now_ms=0)
        cache.keep(key, key, cost=100)
    # "a" had to go (300 > 250): no longer a replay, so nothing needs its answer
    assert cache.seen("a", now_ms=1) is False
    assert cache.kept("a") is None
    assert cache.seen("c", now_ms=1) is True and cache.kept("c") == "c"
    assert cache.kept_bytes <= 250


def test_keeping_for_a_forgotten_key_keeps_nothing():
    cache: ReplayCache[str] = ReplayCache()
    cache.keep("never seen", "x", cost=5)
    cache.seen("a", now_ms=0)
    cache.forget("a")
    cache.keep("a", "x", cost=5)
    assert cache.kept("a") is None and cache.kept("never seen") is None
    assert cache.kept_bytes == 0 and len(cache) == 0


def test_rejects_a_nonsense_byte_budget():
    with pytest.raises(ValueError):
        ReplayCache(max_kept_bytes=0)
