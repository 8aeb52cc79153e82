"""One simulated call's tasks, as every carrier's call runner keeps them.

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

from collections.abc import Callable
from typing import Any

import trio


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
