"""The event log: every event the daemon publishes, in order, under its stream ``cursor``.

The cursor is the table's ``INTEGER PRIMARY KEY AUTOINCREMENT``: greater than every earlier one
and never reused, even after pruning, so ``tail --since CURSOR`` resumes without loss. At most
``retention.events`` (plus one batch) events are kept; the oldest go first.
"""

from __future__ import annotations

import json
from typing import Any

from voicecall_cli.daemon.store.connection import Connection, dumps, trim


class EventLog(Connection):
    """The ``events`` table of a :class:`~voicecall_cli.daemon.store.Store`."""

    _last_cursor: int
    _event_count: int

    def _load_counters(self) -> None:
        super()._load_counters()
        self._last_cursor = self._scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        self._event_count = self._scalar("SELECT count(*) FROM events")
        self._pending_events: list[tuple[int, int, str | None, str, str]] = []

    def append_event(self, ts_ms: int, call_id: str | None, type: str,
                     data: dict[str, Any]) -> dict[str, Any]:
        """Store one event and return it with its new cursor (greater than every earlier one).

        Inside a batch the row is written with the batch's others in one statement at its
        commit (or at the next read of the log); its cursor is assigned now."""
        if self._batch_depth:
            cursor = self._last_cursor + 1
            self._pending_events.append((cursor, ts_ms, call_id, type, dumps(data)))
            self._last_cursor = cursor
            return {"cursor": cursor, "ts": ts_ms, "callId": call_id, "type": type,
                    "data": data}
        count = self._event_count + 1
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO events (ts, call_id, type, data) VALUES (?, ?, ?, ?)",
                                (ts_ms, call_id, type, dumps(data))).lastrowid
            if count > self.retention.events + self.retention.events_batch:
                count -= trim(db, "events", "cursor", count - self.retention.events)
        assert cursor is not None
        self._event_count, self._last_cursor = count, cursor
        return {"cursor": cursor, "ts": ts_ms, "callId": call_id, "type": type, "data": data}

    def _before_commit(self) -> None:
        super()._before_commit()
        self._flush_events()

    def _after_rollback(self) -> None:
        super()._after_rollback()
        self._pending_events.clear()

    def _flush_events(self) -> None:
        if not self._pending_events:
            return
        rows, self._pending_events = self._pending_events, []
        count = self._event_count + len(rows)
        with self._transaction() as db:
            db.executemany("INSERT INTO events (cursor, ts, call_id, type, data)"
                           " VALUES (?, ?, ?, ?, ?)", rows)
            if count > self.retention.events + self.retention.events_batch:
                count -= trim(db, "events", "cursor", count - self.retention.events)
        self._event_count = count

    def events_after(self, cursor: int, call_id: str | None = None,
                     limit: int = 10_000) -> list[dict[str, Any]]:
        """Stored events with a cursor greater than ``cursor`` (of one call if given), oldest
        first, at most ``limit`` of them."""
        self._flush_events()
        where = "cursor > ?" if call_id is None else "call_id = ? AND cursor > ?"
        params = (cursor,) if call_id is None else (call_id, cursor)
        with self._guard("read"):
            rows = self._conn().execute(
                f"SELECT cursor, ts, call_id, type, data FROM events WHERE {where}"
                " ORDER BY cursor LIMIT ?", (*params, limit)).fetchall()
        return [{"cursor": c, "ts": ts, "callId": cid, "type": t, "data": json.loads(d)}
                for c, ts, cid, t, d in rows]

    def latest_events(self, types: tuple[str, ...], call_id: str | None = None,
                      limit: int = 200) -> list[dict[str, Any]]:
        """The newest ``limit`` stored events of these ``types`` (of one call if given),
        returned oldest first."""
        self._flush_events()
        marks = ", ".join("?" * len(types))
        where = f"type IN ({marks})" + ("" if call_id is None else " AND call_id = ?")
        params = (*types,) if call_id is None else (*types, call_id)
        with self._guard("read"):
            rows = self._conn().execute(
                f"SELECT cursor, ts, call_id, type, data FROM events WHERE {where}"
                " ORDER BY cursor DESC LIMIT ?", (*params, limit)).fetchall()
        return [{"cursor": c, "ts": ts, "callId": cid, "type": t, "data": json.loads(d)}
                for c, ts, cid, t, d in reversed(rows)]

    def last_cursor(self) -> int:
        """The newest cursor ever handed out (0 for a new store), kept across pruning."""
        self._conn()
        return self._last_cursor
