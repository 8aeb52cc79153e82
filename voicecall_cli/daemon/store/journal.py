"""The outbound dial journal: written before the provider is asked to dial, so a restart never
dials twice.

An entry is begun (``dialling``) before the provider is asked, then finished once: ``placed``
with the provider's call id, or ``failed`` with the reason (never retried). Entries still
``dialling`` when the daemon starts are dials it died in the middle of
(:meth:`Journal.journal_unfinished`); they are never pruned. Finished entries are bounded by
``retention.journal`` (plus one batch), the oldest going first.

An entry begun with an idempotency key stores the key in the same transaction (see
:mod:`.idempotency`). :meth:`Journal.outbound_dials_since` feeds the per-hour rate limits: the
entries ``dialling`` or ``placed`` (failed dials do not count) by ``begun_at``, so the count
survives a restart.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from voicecall_cli.daemon.store.connection import trim
from voicecall_cli.daemon.store.errors import StoreError
from voicecall_cli.daemon.store.idempotency import IdempotencyKeys

JOURNAL_DIALLING = "dialling"
JOURNAL_PLACED = "placed"
JOURNAL_FAILED = "failed"


class Journal(IdempotencyKeys):
    """The ``outbound_journal`` table of a :class:`~voicecall_cli.daemon.store.Store` (and,
    through :class:`IdempotencyKeys`, the keys written with its entries)."""

    _finished_journal: int

    def _load_counters(self) -> None:
        super()._load_counters()
        self._finished_journal = self._scalar(
            "SELECT count(*) FROM outbound_journal WHERE status != ?", (JOURNAL_DIALLING,))

    def journal_begin(self, call_id: str, to: str, from_: str, mode: str, at_ms: int, *,
                      idempotency: tuple[str, str] | None = None) -> None:
        """Record an outbound dial about to be attempted; call BEFORE asking the provider.
        ``idempotency`` (key, request fingerprint) is stored in the same transaction.
        A second begin for the same call, or a key already in use, raises
        :class:`StoreError` (it would dial twice) and stores nothing."""
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO outbound_journal (call_id, to_number, from_number, mode,"
                    " begun_at, status) VALUES (?, ?, ?, ?, ?, ?)",
                    (call_id, to, from_, mode, at_ms, JOURNAL_DIALLING))
            except sqlite3.IntegrityError:
                raise StoreError(f"the outbound journal already has call {call_id}") from None
            if idempotency is not None:
                key, fingerprint = idempotency
                try:
                    self._remember_key(db, key, fingerprint, call_id, at_ms)
                except sqlite3.IntegrityError:
                    raise StoreError(f"idempotency key {key!r} is already in use") from None

    def journal_placed(self, call_id: str, provider_call_id: str) -> None:
        """The provider accepted the dial and named the call ``provider_call_id``."""
        self._journal_finish(call_id, JOURNAL_PLACED, provider_call_id, None)

    def journal_failed(self, call_id: str, error: str) -> None:
        """The dial was refused or never completed (``error`` says why); it is not retried."""
        self._journal_finish(call_id, JOURNAL_FAILED, None, error)

    def journal_get(self, call_id: str) -> dict[str, Any] | None:
        rows = self._journal("WHERE call_id = ?", (call_id,))
        return rows[0] if rows else None

    def outbound_dials_since(self, since_ms: int, to: str | None = None) -> list[int]:
        """When each dial (``dialling`` or ``placed``, to ``to`` if given) begun after
        ``since_ms`` began, oldest first."""
        clause = "begun_at > ? AND status IN (?, ?)"
        params: tuple[Any, ...] = (since_ms, JOURNAL_DIALLING, JOURNAL_PLACED)
        if to is not None:
            clause = "to_number = ? AND " + clause
            params = (to, *params)
        with self._guard("read"):
            rows = self._conn().execute(
                f"SELECT begun_at FROM outbound_journal WHERE {clause} ORDER BY begun_at",
                params).fetchall()
        return [row[0] for row in rows]

    def journal_unfinished(self) -> list[dict[str, Any]]:
        """Dials begun but neither placed nor failed: the daemon died mid-dial."""
        return self._journal("WHERE status = ? ORDER BY id", (JOURNAL_DIALLING,))

    def _journal_finish(self, call_id: str, status: str, provider_call_id: str | None,
                        error: str | None) -> None:
        count = self._finished_journal + 1
        with self._transaction() as db:
            updated = db.execute(
                "UPDATE outbound_journal SET status = ?, provider_call_id = ?, error = ?"
                " WHERE call_id = ? AND status = ?",
                (status, provider_call_id, error, call_id, JOURNAL_DIALLING)).rowcount
            if not updated:
                entry = self.journal_get(call_id)
                state = f"is already {entry['status']}" if entry else "has no entry"
                raise StoreError(f"cannot mark call {call_id} {status}: the journal {state}")
            if count > self.retention.journal + self.retention.journal_batch:
                count -= trim(db, "outbound_journal", "id", count - self.retention.journal,
                              f"status != '{JOURNAL_DIALLING}'")
        self._finished_journal = count

    def _journal(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._guard("read"):
            rows = self._conn().execute(
                "SELECT call_id, to_number, from_number, mode, begun_at, status,"
                f" provider_call_id, error FROM outbound_journal {clause}", params).fetchall()
        return [{"callId": r[0], "to": r[1], "from": r[2], "mode": r[3], "begunAt": r[4],
                 "status": r[5], "providerCallId": r[6], "error": r[7]} for r in rows]
