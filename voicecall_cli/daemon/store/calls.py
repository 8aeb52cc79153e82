"""Call records: one row per call, the ``CallRecord.to_dict()`` JSON plus indexed columns.

A call's ``ended_seq`` is the order in which it became terminal (NULL while it is active); it
decides which terminal call goes first when more than ``retention.terminal_calls`` are kept.
The counters behind that check live in memory, loaded when the store opens.
"""

from __future__ import annotations

import json
from typing import Any

from voicecall_cli.core.states import CallState
from voicecall_cli.daemon.store.connection import Connection, dumps, trim


class CallTable(Connection):
    """The ``calls`` table of a :class:`~voicecall_cli.daemon.store.Store`."""

    _terminal_count: int
    _last_ended_seq: int

    def _load_counters(self) -> None:
        super()._load_counters()
        self._pending_calls: dict[str, dict[str, Any]] = {}
        self._terminal_count = self._scalar(
            "SELECT count(*) FROM calls WHERE ended_seq IS NOT NULL")
        self._last_ended_seq = self._scalar("SELECT max(ended_seq) FROM calls")

    def save_call(self, record: dict[str, Any]) -> None:
        """Insert or replace one call record (``CallRecord.to_dict()``), keyed by ``callId``.

        When a call becomes terminal and more than ``retention.terminal_calls`` terminal calls
        exist, the one that ended earliest is deleted in the same transaction.

        Inside a batch the write is deferred to the batch's commit (or to the next read of the
        calls table), and a later save of the same call in the batch replaces it: a webhook
        that creates and ends a call writes its row once. A failure then fails the batch."""
        if self._batch_depth:
            call_id = str(record["callId"])
            self._pending_calls.pop(call_id, None)
            self._pending_calls[call_id] = record  # in the order of their last save
            return
        with self.batch():  # a batch of one: what runs after its commit (a hook) runs then
            self._write_call(record)

    def _before_commit(self) -> None:
        super()._before_commit()
        self._flush_calls()

    def _after_rollback(self) -> None:
        super()._after_rollback()
        self._pending_calls.clear()

    def _flush_calls(self) -> None:
        while self._pending_calls:
            call_id = next(iter(self._pending_calls))
            self._write_call(self._pending_calls.pop(call_id))

    def _write_call(self, record: dict[str, Any]) -> None:
        call_id, state = str(record["callId"]), CallState(record["state"])
        terminal_count, last_ended_seq = self._terminal_count, self._last_ended_seq
        with self._transaction() as db:
            row = db.execute("SELECT ended_seq FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            ended_seq = row[0] if row else None
            if state.is_terminal and ended_seq is None:
                last_ended_seq += 1
                ended_seq = last_ended_seq
                terminal_count += 1
                self._call_became_terminal(
                    db, call_id, int(record.get("endedAt") or record["startedAt"]))
            elif not state.is_terminal and ended_seq is not None:
                ended_seq = None
                terminal_count -= 1
            db.execute(
                "INSERT INTO calls (call_id, provider_call_id, state, started_at, ended_at,"
                " ended_seq, record) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO UPDATE"
                " SET provider_call_id = excluded.provider_call_id, state = excluded.state,"
                " started_at = excluded.started_at, ended_at = excluded.ended_at,"
                " ended_seq = excluded.ended_seq, record = excluded.record",
                (call_id, record.get("providerCallId"), state.value, int(record["startedAt"]),
                 record.get("endedAt"), ended_seq, dumps(record)))
            if terminal_count > self.retention.terminal_calls:
                terminal_count -= trim(db, "calls", "ended_seq",
                                       terminal_count - self.retention.terminal_calls,
                                       "ended_seq IS NOT NULL")
        self._terminal_count, self._last_ended_seq = terminal_count, last_ended_seq

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        rows = self._records("WHERE call_id = ?", (call_id,))
        return rows[0] if rows else None

    def find_call_by_provider_id(self, provider_call_id: str) -> dict[str, Any] | None:
        rows = self._records("WHERE provider_call_id = ? ORDER BY started_at DESC LIMIT 1",
                             (provider_call_id,))
        return rows[0] if rows else None

    def load_active_calls(self) -> list[dict[str, Any]]:
        """Every non-terminal call, oldest first (what a restarted daemon restores)."""
        return self._records("WHERE ended_seq IS NULL ORDER BY started_at, rowid", ())

    def recent_calls(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` most recently started calls, active or ended, newest first."""
        return self.list_calls(limit=limit)

    def list_calls(self, *, limit: int, states: frozenset[str] | None = None,
                   ended: bool | None = None, since_ms: int | None = None
                   ) -> list[dict[str, Any]]:
        """Calls newest first: only those in ``states``, only ended (True) or active (False)
        ones, only those started at or after ``since_ms``; at most ``limit``."""
        clauses: list[str] = []
        params: list[Any] = []
        if states is not None:
            clauses.append(f"state IN ({', '.join('?' * len(states))})")
            params.extend(sorted(states))
        if ended is not None:
            clauses.append("ended_seq IS NOT NULL" if ended else "ended_seq IS NULL")
        if since_ms is not None:
            clauses.append("started_at >= ?")
            params.append(since_ms)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        return self._records(f"{where}ORDER BY started_at DESC, rowid DESC LIMIT ?",
                             (*params, limit))

    def call_ids_with_prefix(self, prefix: str, limit: int = 2) -> list[str]:
        """Up to ``limit`` stored call ids that start with ``prefix`` (a primary-key range)."""
        self._flush_calls()
        with self._guard("read"):
            rows = self._conn().execute(
                "SELECT call_id FROM calls WHERE call_id >= ? AND call_id < ? LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit)).fetchall()
        return [row[0] for row in rows]

    def _records(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        self._flush_calls()
        with self._guard("read"):
            rows = self._conn().execute(f"SELECT record FROM calls {clause}", params).fetchall()
        return [json.loads(row[0]) for row in rows]
