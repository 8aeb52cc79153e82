"""The replay cache: first sightings pass, repeats inside the window are replays (anchor 6.6)."""

import pytest

from voicecall_cli.providers.replay import PRUNE_EVERY_MARKS, ReplayCache


def test_first_sighting_is_new_and_repeat_within_window_is_replay():
    cache = ReplayCache(window_ms=1_000)
    assert cache.seen("a", now_ms=0) is False
    assert cache.seen("a", now_ms=999) is True
    assert cache.seen("b", now_ms=999) is False


def test_key_is_new_again_once_its_window_passed():
    cache = ReplayCache(window_ms=1_000)
    assert cache.seen("a", now_ms=0) is False
    assert cache.seen("a", now_ms=1_000) is False  # window is [0, 1000)
    assert cache.seen("a", now_ms=1_500) is True  # re-recorded at 1000


def test_repeat_does_not_extend_the_window():
    cache = ReplayCache(window_ms=1_000)
    cache.seen("a", now_ms=0)
    assert cache.seen("a", now_ms=900) is True
    assert cache.seen("a", now_ms=1_100) is False


def test_default_window_is_ten_minutes_and_cap_ten_thousand():
    cache = ReplayCache()
    assert (cache.window_ms, cache.max_keys) == (600_000, 10_000)
    cache.seen("k", now_ms=0)
    assert cache.seen("k", now_ms=599_999) is True
    assert cache.seen("k", now_ms=600_000) is False


def test_expired_keys_are_pruned_every_64_marks():
    cache = ReplayCache(window_ms=100)
    for i in range(10):
        cache.seen(f"old{i}", now_ms=0)
    for i in range(PRUNE_EVERY_MARKS - 11):
        cache.seen(f"new{i}", now_ms=500)
    assert len(cache) == PRUNE_EVERY_MARKS - 1  # nothing pruned yet
    cache.seen("trigger", now_ms=500)  # the 64th mark prunes the 10 expired keys
    assert len(cache) == PRUNE_EVERY_MARKS - 10


def test_oversize_evicts_oldest_first():
    cache = ReplayCache(window_ms=10_000, max_keys=3)
    for t, key in enumerate(["a", "b", "c", "d"]):
        cache.seen(key, now_ms=t)
    assert len(cache) == 3
    assert cache.seen("a", now_ms=10) is False  # evicted, so new again (and evicts "b")
    assert cache.seen("c", now_ms=10) is True
    assert cache.seen("d", now_ms=10) is True
    assert cache.seen("b", now_ms=10) is False


def test_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        ReplayCache(window_ms=0)
    with pytest.raises(ValueError):
        ReplayCache(max_keys=0)
