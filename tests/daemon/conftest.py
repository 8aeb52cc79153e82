"""Fixtures of the daemon tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing


@pytest.fixture
async def env_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery for the service under test, cancelled at teardown."""
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """trio's MockClock, jumping ahead whenever every task waits (pytest-trio runs a test on
    a Clock argument): timers and pacing checked against trio's clock exactly."""
    return trio.testing.MockClock(autojump_threshold=0)
