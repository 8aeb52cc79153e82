"""Wall-clock milliseconds that follow trio's clock, so ``MockClock`` tests move both.

Call records carry epoch milliseconds (they outlive the process); timers sleep on trio's clock.
:class:`WallClock` is created inside ``trio.run`` and maps one onto the other.
"""

from __future__ import annotations

import time

import trio


class WallClock:
    def __init__(self) -> None:
        self._wall0 = time.time() * 1000.0
        self._trio0 = trio.current_time()

    def now_ms(self) -> int:
        return int(self._wall0 + (trio.current_time() - self._trio0) * 1000.0)

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        """Sleep until the wall clock reads ``deadline_ms`` (at once if it already passed)."""
        await trio.sleep(max(0.0, (deadline_ms - self.now_ms()) / 1000.0))
