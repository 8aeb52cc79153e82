"""Processed webhook keys: what the webhook pipeline has already handled, across restarts.

A replayed request finds its key here and is acknowledged without side effects. At most
``retention.keys`` (plus one batch) keys are kept; the oldest go first.
"""

from __future__ import annotations

from voicecall_cli.daemon.store.connection import Connection, trim


class ProcessedKeys(Connection):
    """The ``processed_keys`` table of a :class:`~voicecall_cli.daemon.store.Store`."""

    _key_count: int

    def _load_counters(self) -> None:
        super()._load_counters()
        self._key_count = self._scalar("SELECT count(*) FROM processed_keys")

    def add_processed_key(self, key: str, at_ms: int) -> bool:
        """Remember ``key``; False when it was already remembered (a replay)."""
        count = self._key_count
        with self._transaction() as db:
            added = db.execute("INSERT OR IGNORE INTO processed_keys (key, at_ms) VALUES (?, ?)",
                               (key, at_ms)).rowcount == 1
            count += added
            if count > self.retention.keys + self.retention.keys_batch:
                count -= trim(db, "processed_keys", "id", count - self.retention.keys)
        self._key_count = count
        return added

    def has_processed_key(self, key: str) -> bool:
        with self._guard("read"):
            return self._conn().execute(
                "SELECT 1 FROM processed_keys WHERE key = ?", (key,)).fetchone() is not None
