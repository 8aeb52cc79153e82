"""Idempotency keys of outbound requests: the same key within ``retention.idempotency_ms``
(24 hours) answers with the first call's id and never dials again, also after a restart.

A key is written only together with its call's journal entry, in the same transaction
(:meth:`~voicecall_cli.daemon.store.journal.Journal.journal_begin` calls
:meth:`IdempotencyKeys._remember_key`), so no dial can happen whose key is not stored. Keys
older than the retention are ignored by :meth:`IdempotencyKeys.idempotency_get` and deleted by
the next write, which keeps the table bounded by the calls of one day.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from voicecall_cli.daemon.store.connection import Connection


class KeyedCall(NamedTuple):
    """What an idempotency key was first used for."""

    call_id: str
    fingerprint: str  # core.rails.request_fingerprint of that request
    created_at: int


class IdempotencyKeys(Connection):
    """The ``idempotency_keys`` table of a :class:`~voicecall_cli.daemon.store.Store`."""

    def idempotency_get(self, key: str, now_ms: int) -> KeyedCall | None:
        """The call first placed with ``key``, unless that was longer ago than the retention."""
        with self._guard("read"):
            row = self._conn().execute(
                "SELECT call_id, fingerprint, created_at FROM idempotency_keys"
                " WHERE key = ? AND created_at > ?",
                (key, now_ms - self.retention.idempotency_ms)).fetchone()
        return KeyedCall(*row) if row else None

    def _remember_key(self, db: sqlite3.Connection, key: str, fingerprint: str, call_id: str,
                      at_ms: int) -> None:
        """Store ``key`` for ``call_id`` inside the caller's transaction (replacing an expired
        use of the same key) and drop expired keys. Raises ``sqlite3.IntegrityError`` when a
        live key is stored already: the caller must look it up first."""
        expired_before = at_ms - self.retention.idempotency_ms
        db.execute("DELETE FROM idempotency_keys WHERE created_at <= ?", (expired_before,))
        db.execute("INSERT INTO idempotency_keys (key, call_id, fingerprint, created_at)"
                   " VALUES (?, ?, ?, ?)", (key, call_id, fingerprint, at_ms))
