"""Fixtures of the daemon tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio


@pytest.fixture
async def env_nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery for the service under test, cancelled at teardown."""
    async with trio.open_nursery() as nursery:
        yield nursery
        nursery.cancel_scope.cancel()
