"""What the carrier simulators' call recorders share (``<carrier>/recording.py``).

:class:`RecordingSpan` gives a simulated recording its length from ``started_ms`` and
``ended_ms``; :class:`RecorderBase` holds a recorder's wiring (the simulator's webhook sender,
nursery, clock, base URL, and the waits and notices it shares with the simulator) and keeps
each recording by call, starting the task that reports it once its call ended. Each carrier's
recorder adds what its REST API accepts and what its report carries.

Resource handling: the report tasks run in the simulator's nursery and die with it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio


class RecordingSpan:
    """Mixin for a recording dataclass with ``started_ms`` and ``ended_ms`` (None: running)."""

    __slots__ = ()
    started_ms: int
    ended_ms: int | None

    @property
    def duration_ms(self) -> int:
        return 0 if self.ended_ms is None else max(0, self.ended_ms - self.started_ms)

    @property
    def duration_s(self) -> int:
        """Whole seconds, rounded (0 while it runs)."""
        return round(self.duration_ms / 1000)


class RecorderBase:
    """``recordings``: every recording made, by the carrier's call id, oldest first.

    ``wait_ended(call id)`` returns the call once it ended; ``on_change()`` tells the simulator
    its records changed; ``base_url()`` is where the simulator serves (recording URLs)."""

    def __init__(self, *, sender: Any, nursery: trio.Nursery, clock_ms: Callable[[], int],
                 base_url: Callable[[], str], wait_ended: Callable[[str], Awaitable[Any]],
                 on_change: Callable[[], None]) -> None:
        self.recordings: dict[str, list[Any]] = {}
        self._sender = sender
        self._nursery = nursery
        self._clock_ms = clock_ms
        self._base_url = base_url
        self._wait_ended = wait_ended
        self._on_change = on_change

    def _keep(self, call_id: str, call: Any, recording: Any,
              report: Callable[[Any, Any], Awaitable[None]]) -> None:
        """File ``recording`` under ``call_id`` and start ``report(call, recording)``, which
        waits for the call's end and sends the carrier's report."""
        self.recordings.setdefault(call_id, []).append(recording)
        self._nursery.start_soon(report, call, recording)
