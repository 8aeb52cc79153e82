"""One simulated call's tasks, as every carrier's call runner keeps them, and the ordered
queue their webhook outboxes deliver from (:class:`SerialQueue`).

Each task runs in the simulator's nursery under a cancel scope of its own, so ending the call
cancels exactly its tasks: not the nursery, not other calls, not the work meant to outlive the
call (a final webhook, a carrier's event outbox), which the runner starts in the nursery
directly.

Resource handling: :class:`CallTasks` owns the cancel scopes, never the nursery (the
simulator's, cancelled when the simulator stops). :meth:`CallTasks.cancel_all` cancels every
task still running; a task spawned once the call has ended (``ended()`` holds) is cancelled
before it starts. A finished or cancelled task forgets its scope.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Generic, TypeVar

import trio

T = TypeVar("T")


class SerialQueue(Generic[T]):
    """Items handled one at a time, in the order they were put, by ``handle``.

    :meth:`put` never blocks; the task :meth:`start` begins in ``nursery`` (the simulator's:
    not cancelled when a call ends) runs ``handle`` on each. :meth:`close` lets it finish what
    was put, then end; :meth:`abandon` drops whatever is not handled yet (``abandoned`` then
    holds, for a handler that would do more). Items put after either are dropped.
    """

    def __init__(self, nursery: trio.Nursery, handle: Callable[[T], Awaitable[None]]) -> None:
        self._nursery = nursery
        self._handle = handle
        self._send, self._receive = trio.open_memory_channel[T](math.inf)
        self.abandoned = False

    def start(self) -> None:
        self._nursery.start_soon(self._run)

    def put(self, item: T) -> None:
        with suppress(trio.ClosedResourceError):
            self._send.send_nowait(item)

    def close(self) -> None:
        self._send.close()

    def abandon(self) -> None:
        self.abandoned = True
        self._send.close()

    async def _run(self) -> None:
        async with self._receive:
            async for item in self._receive:
                if self.abandoned:
                    return
                await self._handle(item)


class CallTasks:
    """The running tasks of one call; created and owned by its call runner."""

    def __init__(self, nursery: trio.Nursery, *, ended: Callable[[], bool]) -> None:
        self._nursery = nursery
        self._ended = ended
        self._scopes: set[trio.CancelScope] = set()

    def spawn(self, action: Callable[..., Any], *args: Any) -> trio.CancelScope:
        """Run ``action(*args)`` in the nursery under a scope that :meth:`cancel_all` cancels
        (cancel the returned scope to stop this task alone)."""
        scope = trio.CancelScope()
        if self._ended():
            scope.cancel()
        self._scopes.add(scope)

        async def run() -> None:
            try:
                with scope:
                    await action(*args)
            finally:
                self._scopes.discard(scope)

        self._nursery.start_soon(run)
        return scope

    def cancel_all(self) -> None:
        """Cancel every task spawned here that is still running."""
        for scope in list(self._scopes):
            scope.cancel()
