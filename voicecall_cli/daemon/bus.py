"""Event fan-out for ``GET /v1/events``: every event is stored first (its cursor comes from the
:class:`~voicecall_cli.daemon.store.Store`), then handed to each live subscriber.

Ownership: the daemon creates one :class:`EventBus` after the store and closes it before the
store. Each stream handler owns the :class:`Subscription` it opened and closes it (``with``) when
the client goes away or its task is cancelled; cancelling ``receive()`` loses no event, the next
call returns it.

Ordering: :meth:`EventBus.subscribe` and :meth:`EventBus.publish` never await, so on the trio
thread no event can fall between a subscription's snapshot, its backlog (stored events up to the
snapshot cursor) and its live events (cursors after it): no gap, no duplicate.

Back-pressure: each subscriber has a bounded buffer. ``publish`` never waits for a subscriber;
one whose buffer is full is dropped, drains what it already has, then gets :class:`Lagged` with
the cursor to resume from (``since=cursor`` replays the rest from the store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from voicecall_cli.daemon.store import Store
from voicecall_cli.protocol.events import SINCE_ALL, SNAPSHOT

BACKLOG_LIMIT = 2000
"""Stored events one subscription reads at once (~5 ms on the trio thread; 10 000 take ~30 ms,
longer than a 20 ms media frame). Beyond it the subscriber resumes through ``lagged``."""


class Lagged(Exception):
    """The subscriber fell behind and was dropped; resume with ``since=cursor``."""

    def __init__(self, cursor: int) -> None:
        super().__init__(f"subscriber dropped; resume after cursor {cursor}")
        self.cursor = cursor


class Subscription:
    """One subscriber's view: ``snapshot`` and ``backlog`` at once, then live events from
    :meth:`receive`. Made by :meth:`EventBus.subscribe`; close it when done (idempotent)."""

    def __init__(self, bus: EventBus, call_id: str | None, snapshot: dict[str, Any],
                 backlog: list[dict[str, Any]], buffer_size: int) -> None:
        self.call_id = call_id
        self.snapshot = snapshot
        self.backlog = backlog
        self.cursor: int = snapshot["cursor"]
        self._bus = bus
        self._send, self._receive = trio.open_memory_channel[dict[str, Any]](buffer_size)
        self._lagged = False
        self.closed = trio.Event()
        bus._open.add(self)

    async def receive(self) -> dict[str, Any]:
        """The next live event. Raises :class:`Lagged` once this subscriber was dropped (after
        the events already buffered), ``trio.EndOfChannel`` once the bus closed (likewise)."""
        try:
            event = await self._receive.receive()
        except trio.EndOfChannel:
            if self._lagged:
                raise Lagged(self.cursor) from None
            raise
        self.cursor = event["cursor"]
        return event

    def close(self) -> None:
        """Unregister from the bus; a later :meth:`receive` raises ``trio.ClosedResourceError``."""
        self._bus._subscribers.discard(self)
        self._bus._open.discard(self)
        self._send.close()
        self._receive.close()
        self.closed.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _deliver(self, event: dict[str, Any]) -> None:
        if self.call_id is not None and event["callId"] != self.call_id:
            return
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            self._drop(lagged=True)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._drop(lagged=False)

    def _drop(self, *, lagged: bool) -> None:
        self._lagged = lagged
        self._bus._subscribers.discard(self)
        self._send.close()


class EventBus:
    """Stores events and fans them out; see the module docstring for the guarantees.

    ``snapshot`` returns the active calls (``CallView`` JSON objects) for
    each new subscription; ``clock_ms`` stamps published events."""

    def __init__(self, store: Store, snapshot: Callable[[], list[dict[str, Any]]], *,
                 buffer_size: int = 1000, clock_ms: Callable[[], int],
                 backlog_limit: int = BACKLOG_LIMIT) -> None:
        self._store = store
        self._snapshot = snapshot
        self._buffer_size = buffer_size
        self._clock_ms = clock_ms
        self._backlog_limit = backlog_limit
        self._subscribers: set[Subscription] = set()
        self._open: set[Subscription] = set()  # not yet closed by their reader
        self._closed = False

    def publish(self, call_id: str | None, type: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store the event (raises :class:`StoreError` if that fails), deliver it to every
        matching subscriber without waiting once it is committed (at the end of the store's
        batch, if one is open), and return it. After :meth:`close` the event is still stored."""
        event = self._store.append_event(self._clock_ms(), call_id, type, data)
        self._store.after_commit(lambda: self._fan_out(event))
        return event

    def _fan_out(self, event: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            subscriber._deliver(event)

    def subscribe(self, since: int | str | None, call_id: str | None = None) -> Subscription:
        """Open a subscription (of one call if ``call_id``). ``since``: None for live events
        only, ``"all"`` for every stored event first, N for stored events after cursor N.

        The backlog holds at most ``backlog_limit`` events; when more are stored the
        subscription is already lagged after its backlog, so the client resumes from there.
        Events older than the store's retention are gone: the backlog starts at the oldest
        one kept."""
        cursor = self._store.last_cursor()
        calls = self._snapshot()
        if call_id is not None:
            calls = [call for call in calls if call.get("callId") == call_id]
        after = _backlog_start(since, cursor)
        backlog = [] if after is None else self._store.events_after(
            after, call_id, limit=self._backlog_limit + 1)
        truncated = len(backlog) > self._backlog_limit
        del backlog[self._backlog_limit:]
        subscription = Subscription(self, call_id, {"type": SNAPSHOT, "cursor": cursor,
                                                    "calls": calls}, backlog, self._buffer_size)
        if truncated:
            subscription.cursor = backlog[-1]["cursor"]
            subscription._drop(lagged=True)
        elif self._closed:
            subscription._drop(lagged=False)
        else:
            self._subscribers.add(subscription)
        return subscription

    def close(self) -> None:
        """End every subscription: each receives what it has buffered, then EndOfChannel."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber._drop(lagged=False)

    async def wait_readers_done(self) -> None:
        """Wait until every subscription's reader has closed it (after :meth:`close`, readers
        drain their buffers first, so a graceful shutdown delivers its last events)."""
        for subscription in list(self._open):
            await subscription.closed.wait()


def _backlog_start(since: int | str | None, last_cursor: int) -> int | None:
    """The cursor the backlog starts after, or None for live only."""
    if since is None:
        return None
    if since == SINCE_ALL:
        return 0
    if isinstance(since, bool) or not isinstance(since, int):
        raise ValueError(f"since must be a cursor, {SINCE_ALL!r} or None, not {since!r}")
    return since if since < last_cursor else None
