"""Fixtures of the speech tests."""

import pytest
import trio.testing


@pytest.fixture
def patient_autojump_clock() -> trio.testing.MockClock:
    """A MockClock that jumps only after 50 ms of real idleness: a worker thread (the openai
    SDK detects the platform in one on its first request) finishes before virtual time leaps,
    while waits of seconds still pass at once."""
    return trio.testing.MockClock(autojump_threshold=0.05)
