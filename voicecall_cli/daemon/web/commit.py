"""Group commit: the events of every webhook that arrived in one pass of the event loop go into
the store in one transaction, and each webhook is answered only once that transaction committed.

Why: a commit writes every page the transaction touched to the WAL; under load most of a
webhook's store cost was its own commit of the same few hot pages (the call, event and key
tables' last pages). Grouping the deliveries that are ready together shares that commit and
adds no waiting: the group is whatever was submitted before the committer task next ran
(one scheduling round), never a timer. One delivery alone commits alone.

All or nothing per group: ``apply`` is called for each delivery, in arrival order, inside one
``batch()`` (the store's; nested batches join it). If the batch does not commit (a write
failed, the disk is full, the file is read-only), every delivery in the group is refused
(:meth:`GroupCommit.submit` returns False) and the carrier retries. An exception ``apply``
raises for one delivery that is not a store failure is logged and does not refuse the others
(reference 6.1 step 10: event processing errors are not fatal).

Resource handling: :meth:`GroupCommit.run` is the one committer task; the webhook server runs
it in its nursery. Cancelling it (server shutdown) leaves waiting submitters to be cancelled
with the same nursery.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import trio

from voicecall_cli.core.events import NormalizedEvent

logger = logging.getLogger("voicecall.web")

Apply = Callable[[list[NormalizedEvent]], None]
Batch = Callable[[], AbstractContextManager[Any]]


class _Group:
    __slots__ = ("deliveries", "done", "stored")

    def __init__(self) -> None:
        self.deliveries: list[list[NormalizedEvent]] = []
        self.done = trio.Event()
        self.stored = False


class GroupCommit:
    """Stores webhook deliveries' events in groups (see the module docstring).

    ``apply`` hands one delivery's events to the call manager (synchronous, no awaits);
    ``batch`` opens the store transaction they share (default: none, for tests of the web
    layer alone)."""

    def __init__(self, apply: Apply, batch: Batch | None = None) -> None:
        self._apply = apply
        self._batch: Batch = batch or contextlib.nullcontext
        self._open: _Group | None = None
        self._wake = trio.Event()
        self.groups = 0  # committed or refused groups, for tests and benchmarks

    async def submit(self, events: list[NormalizedEvent]) -> bool:
        """Store ``events`` with the current group; True once committed, False if the group
        could not be stored."""
        group = self._open
        if group is None:
            group = self._open = _Group()
            self._wake.set()
        group.deliveries.append(events)
        await group.done.wait()
        return group.stored

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """The committer: commit each group as soon as it runs, until cancelled."""
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            group, self._open = self._open, None
            if group is not None:
                self._commit(group)

    def _commit(self, group: _Group) -> None:
        self.groups += 1
        try:
            with self._batch():
                for events in group.deliveries:
                    try:
                        self._apply(events)
                    except Exception:
                        logger.exception("processing webhook events failed")
            group.stored = True
            logger.debug("stored %d webhook deliveries in one commit", len(group.deliveries))
        except Exception as exc:
            logger.error("could not store %d webhook deliveries: %s", len(group.deliveries),
                         exc)
        finally:
            group.done.set()
