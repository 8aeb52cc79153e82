"""Rate-limited logging (daemon/loglimit.py): what an operator reads in the log when a stranger
makes the daemon log the same thing thousands of times a second."""

from __future__ import annotations

import logging

import pytest

from voicecall_cli.daemon.loglimit import Hush, LogLimiter, LogScope, RateLimitFilter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def log(caplog) -> logging.Logger:
    caplog.set_level(logging.INFO, logger="test.loglimit")
    logger = logging.getLogger("test.loglimit")
    yield logger
    logger.filters.clear()


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.loglimit"]


def test_a_burst_passes_then_the_rate_holds_and_a_summary_counts_the_rest(log, caplog) -> None:
    clock = Clock()
    limiter = LogLimiter(log, rate_per_s=2.0, burst=5, summary_every_s=10.0, clock=clock)
    written = [limiter.log(logging.WARNING, "bad frame %d", n) for n in range(1000)]
    assert written.count(True) == 5  # the burst
    clock.now += 3.0  # 6 tokens refilled, but the burst caps the bucket at 5
    assert sum(limiter.log(logging.WARNING, "bad frame") for _ in range(1000)) == 5
    clock.now += 10.0
    limiter.log(logging.WARNING, "after a while")
    lines = messages(caplog)
    assert lines[10] == "1990 log lines suppressed in the last 13 s (rate limit)"
    assert lines[-1] == "after a while" and len(lines) == 12


def test_flush_writes_the_summary_at_once_and_only_when_something_was_left_out(log,
                                                                               caplog) -> None:
    limiter = LogLimiter(log, rate_per_s=1.0, burst=1, clock=Clock())
    limiter.flush()
    assert messages(caplog) == []
    limiter.log(logging.INFO, "one")
    limiter.log(logging.INFO, "two")
    limiter.flush()
    assert messages(caplog) == ["one", "1 log lines suppressed in the last 0 s (rate limit)"]


def test_a_scope_writes_each_kind_once_and_sums_up_the_rest_when_closed(log, caplog) -> None:
    limiter = LogLimiter(log, rate_per_s=100.0, burst=100, clock=Clock())
    scope = LogScope(limiter, "media stream from 192.0.2.1")
    for n in range(500):
        scope.log("malformed", logging.WARNING, "malformed message ignored (%d)", n)
    scope.log("closed", logging.WARNING, "closing it: %d %s", 1008, "Too many")
    scope.close()
    scope.close()  # idempotent
    assert messages(caplog) == [
        "media stream from 192.0.2.1: malformed message ignored (0)",
        "media stream from 192.0.2.1: closing it: 1008 Too many",
        "media stream from 192.0.2.1: 499 more lines like the above not logged"]


def test_the_filter_caps_each_template_and_says_how_many_it_dropped(log, caplog) -> None:
    clock = Clock()
    log.addFilter(RateLimitFilter(rate_per_s=1.0, burst=3, clock=clock))
    for n in range(100):
        log.info("closing media stream: %d %s", 1008, n)
    log.info("another line")  # its own template: its own bucket
    clock.now += 1.0
    log.info("closing media stream: %d %s", 1000, "bye")
    assert messages(caplog) == [
        "closing media stream: 1008 0", "closing media stream: 1008 1",
        "closing media stream: 1008 2", "another line",
        "closing media stream: 1000 bye [97 similar lines suppressed]"]


def test_hush_drops_only_while_on(log, caplog) -> None:
    hush = Hush()
    log.addFilter(hush)
    hush.on = True
    log.info("dropped")
    hush.on = False
    log.info("kept")
    assert messages(caplog) == ["kept"]
