"""The daemon's durable state: one SQLite file (stdlib ``sqlite3``, WAL) in the store directory.

Four tables: call records (the ``CallRecord.to_dict()`` JSON plus indexed columns), the event log
(whose ``INTEGER PRIMARY KEY AUTOINCREMENT`` is the stream ``cursor``, never reused, even after
pruning), processed webhook keys (dedupe/replay across restarts) and the outbound journal (written
before the carrier is asked to dial, so a restart never dials twice).

Ownership: the daemon opens one :class:`Store` at start (``Store.open``), calls it synchronously
from the trio thread and closes it last. Every method is one short transaction committed before it
returns. WAL with ``synchronous=NORMAL``: a commit is in the OS page cache when it returns, so a
``kill -9`` of the daemon loses no acknowledged write (the e2e and durability tests kill it);
only an OS crash or power loss can drop the newest commits, which ends the calls themselves
too. FULL would fsync every commit: it cost a third of the webhook path's time under load.
There is nothing to cancel: a call either commits or raises. Every SQLite failure (corrupt
file, disk full, locked) is raised as :class:`StoreError` with a message that names the file.

Retention keeps every table bounded (see :class:`Retention`); counters kept in memory make the
check free and pruning happens in batches, not on every write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecall_cli.core.states import CallState

FILENAME = "voicecall.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 1.0

_SCHEMA = """
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY,
    provider_call_id TEXT,
    state TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    ended_seq INTEGER UNIQUE,  -- order in which calls became terminal, NULL while active
    record TEXT NOT NULL
);
CREATE INDEX calls_by_provider_id ON calls(provider_call_id);
CREATE INDEX calls_by_start ON calls(started_at);
CREATE TABLE events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
    call_id TEXT,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX events_by_call ON events(call_id, cursor);
CREATE TABLE processed_keys (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL
);
CREATE TABLE outbound_journal (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    mode TEXT NOT NULL,
    begun_at INTEGER NOT NULL,
    status TEXT NOT NULL,  -- dialling | placed | failed
    provider_call_id TEXT,
    error TEXT
);
CREATE INDEX journal_by_status ON outbound_journal(status);
"""

JOURNAL_DIALLING = "dialling"
JOURNAL_PLACED = "placed"
JOURNAL_FAILED = "failed"


class StoreError(Exception):
    """The store cannot be opened, read or written; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How much each table keeps. ``*_batch`` rows may accumulate beyond a bound before one
    DELETE trims back to it, so the newest ``events``/``keys``/``journal`` rows always remain."""

    terminal_calls: int = 1000  # exact: the oldest terminal call goes when one more ends
    events: int = 100_000
    events_batch: int = 1000
    keys: int = 10_000
    keys_batch: int = 500
    journal: int = 1000  # finished (placed or failed) entries; unfinished ones are never pruned
    journal_batch: int = 100


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """One open SQLite store. Not thread-safe: use it from the thread that opened it."""

    def __init__(self, path: Path, db: sqlite3.Connection, retention: Retention) -> None:
        self.path = path
        self.retention = retention
        self._db: sqlite3.Connection | None = db
        self._batch_depth = 0
        self._after_commit: list[Callable[[], None]] = []
        with self._guard("read"):
            self._last_cursor = self._scalar(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
            self._event_count = self._scalar("SELECT count(*) FROM events")
            self._key_count = self._scalar("SELECT count(*) FROM processed_keys")
            self._terminal_count = self._scalar(
                "SELECT count(*) FROM calls WHERE ended_seq IS NOT NULL")
            self._last_ended_seq = self._scalar("SELECT max(ended_seq) FROM calls")
            self._finished_journal = self._scalar(
                "SELECT count(*) FROM outbound_journal WHERE status != ?", (JOURNAL_DIALLING,))

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, retention: Retention = Retention()) -> Store:
        """Open (creating if needed) ``directory/voicecall.sqlite3``; the directory is made 0700
        and the file 0600. Raises :class:`StoreError` if the file is not a healthy voicecall
        store or was written by a newer schema."""
        directory = Path(directory)
        path = directory / FILENAME
        try:
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(
                f"cannot create the store directory {directory}: {exc.strerror}") from None
        try:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StoreError(f"cannot open the store {path}: {exc.strerror}") from None
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            _prepare(db, path)
            return cls(path, db, retention)
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise _store_error(path, "open", exc) from None
        except StoreError:
            if db is not None:
                db.close()
            raise

    def close(self) -> None:
        """Close the connection (idempotent); SQLite checkpoints the WAL into the main file."""
        if self._db is not None:
            db, self._db = self._db, None
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    def save_call(self, record: dict[str, Any]) -> None:
        """Insert or replace one call record (``CallRecord.to_dict()``), keyed by ``callId``.

        When a call becomes terminal and more than ``retention.terminal_calls`` terminal calls
        exist, the one that ended earliest is deleted in the same transaction."""
        call_id, state = str(record["callId"]), CallState(record["state"])
        terminal_count, last_ended_seq = self._terminal_count, self._last_ended_seq
        with self._transaction() as db:
            row = db.execute("SELECT ended_seq FROM calls WHERE call_id = ?", (call_id,)).fetchone()
            ended_seq = row[0] if row else None
            if state.is_terminal and ended_seq is None:
                last_ended_seq += 1
                ended_seq = last_ended_seq
                terminal_count += 1
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
                 record.get("endedAt"), ended_seq, _dumps(record)))
            if terminal_count > self.retention.terminal_calls:
                terminal_count -= _trim(db, "calls", "ended_seq",
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
        with self._guard("read"):
            rows = self._conn().execute(
                "SELECT call_id FROM calls WHERE call_id >= ? AND call_id < ? LIMIT ?",
                (prefix, prefix + "\U0010ffff", limit)).fetchall()
        return [row[0] for row in rows]

    # -- event log ---------------------------------------------------------------------------

    def append_event(self, ts_ms: int, call_id: str | None, type: str,
                     data: dict[str, Any]) -> dict[str, Any]:
        """Store one event and return it with its new cursor (greater than every earlier one)."""
        count = self._event_count + 1
        with self._transaction() as db:
            cursor = db.execute("INSERT INTO events (ts, call_id, type, data) VALUES (?, ?, ?, ?)",
                                (ts_ms, call_id, type, _dumps(data))).lastrowid
            if count > self.retention.events + self.retention.events_batch:
                count -= _trim(db, "events", "cursor", count - self.retention.events)
        assert cursor is not None
        self._event_count, self._last_cursor = count, cursor
        return {"cursor": cursor, "ts": ts_ms, "callId": call_id, "type": type, "data": data}

    def events_after(self, cursor: int, call_id: str | None = None,
                     limit: int = 10_000) -> list[dict[str, Any]]:
        """Stored events with a cursor greater than ``cursor`` (of one call if given), oldest
        first, at most ``limit`` of them."""
        where = "cursor > ?" if call_id is None else "call_id = ? AND cursor > ?"
        params = (cursor,) if call_id is None else (call_id, cursor)
        with self._guard("read"):
            rows = self._conn().execute(
                f"SELECT cursor, ts, call_id, type, data FROM events WHERE {where}"
                " ORDER BY cursor LIMIT ?", (*params, limit)).fetchall()
        return [{"cursor": c, "ts": ts, "callId": cid, "type": t, "data": json.loads(d)}
                for c, ts, cid, t, d in rows]

    def last_cursor(self) -> int:
        """The newest cursor ever handed out (0 for a new store), kept across pruning."""
        self._conn()
        return self._last_cursor

    # -- processed webhook keys --------------------------------------------------------------

    def add_processed_key(self, key: str, at_ms: int) -> bool:
        """Remember ``key``; False when it was already remembered (a replay)."""
        count = self._key_count
        with self._transaction() as db:
            added = db.execute("INSERT OR IGNORE INTO processed_keys (key, at_ms) VALUES (?, ?)",
                               (key, at_ms)).rowcount == 1
            count += added
            if count > self.retention.keys + self.retention.keys_batch:
                count -= _trim(db, "processed_keys", "id", count - self.retention.keys)
        self._key_count = count
        return added

    def has_processed_key(self, key: str) -> bool:
        with self._guard("read"):
            return self._conn().execute(
                "SELECT 1 FROM processed_keys WHERE key = ?", (key,)).fetchone() is not None

    # -- outbound journal --------------------------------------------------------------------

    def journal_begin(self, call_id: str, to: str, from_: str, mode: str, at_ms: int) -> None:
        """Record an outbound dial about to be attempted; call BEFORE asking the carrier.
        A second begin for the same call raises :class:`StoreError` (it would dial twice)."""
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO outbound_journal (call_id, to_number, from_number, mode,"
                    " begun_at, status) VALUES (?, ?, ?, ?, ?, ?)",
                    (call_id, to, from_, mode, at_ms, JOURNAL_DIALLING))
            except sqlite3.IntegrityError:
                raise StoreError(f"the outbound journal already has call {call_id}") from None

    def journal_placed(self, call_id: str, provider_call_id: str) -> None:
        """The carrier accepted the dial and named the call ``provider_call_id``."""
        self._journal_finish(call_id, JOURNAL_PLACED, provider_call_id, None)

    def journal_failed(self, call_id: str, error: str) -> None:
        """The dial was refused or never completed (``error`` says why); it is not retried."""
        self._journal_finish(call_id, JOURNAL_FAILED, None, error)

    def journal_get(self, call_id: str) -> dict[str, Any] | None:
        rows = self._journal("WHERE call_id = ?", (call_id,))
        return rows[0] if rows else None

    def journal_unfinished(self) -> list[dict[str, Any]]:
        """Dials begun but neither placed nor failed: the daemon died mid-dial."""
        return self._journal("WHERE status = ? ORDER BY id", (JOURNAL_DIALLING,))

    # -- internals ---------------------------------------------------------------------------

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
                count -= _trim(db, "outbound_journal", "id", count - self.retention.journal,
                               f"status != '{JOURNAL_DIALLING}'")
        self._finished_journal = count

    def _journal(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._guard("read"):
            rows = self._conn().execute(
                "SELECT call_id, to_number, from_number, mode, begun_at, status,"
                f" provider_call_id, error FROM outbound_journal {clause}", params).fetchall()
        return [{"callId": r[0], "to": r[1], "from": r[2], "mode": r[3], "begunAt": r[4],
                 "status": r[5], "providerCallId": r[6], "error": r[7]} for r in rows]

    def _records(self, clause: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._guard("read"):
            rows = self._conn().execute(f"SELECT record FROM calls {clause}", params).fetchall()
        return [json.loads(row[0]) for row in rows]

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        row = self._conn().execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._db

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _store_error(self.path, action, exc) from None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Make every write inside one transaction: one commit (one fsync) for all of them.

        Nested batches join the outer one. Callbacks given to :meth:`after_commit` inside run
        once the commit succeeded (in order), and are dropped if it fails or rolls back. No
        ``await`` may happen inside a batch (the daemon's callers are synchronous)."""
        if self._batch_depth:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
            return
        try:
            with self._transaction():
                self._batch_depth = 1
                try:
                    yield
                finally:
                    self._batch_depth = 0
        except BaseException:
            self._after_commit.clear()
            raise
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once what was written so far is committed (now, outside a batch)."""
        if self._batch_depth:
            self._after_commit.append(callback)
        else:
            callback()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT; anything raised inside rolls back and propagates.
        Inside :meth:`batch` it joins the batch's transaction instead."""
        db = self._conn()
        if self._batch_depth:
            with self._guard("write"):
                yield db
            return
        with self._guard("write"):
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                raise


def _trim(db: sqlite3.Connection, table: str, order: str, excess: int, where: str = "") -> int:
    """Delete the ``excess`` rows of ``table`` that come first by ``order``; returns how many."""
    condition = f"WHERE {where}" if where else ""
    return db.execute(
        f"DELETE FROM {table} WHERE {order} IN"
        f" (SELECT {order} FROM {table} {condition} ORDER BY {order} LIMIT ?)", (excess,)
    ).rowcount


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """WAL + NORMAL sync, check the file, then create or accept the schema."""
    mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise StoreError(f"the store {path} cannot use write-ahead logging (mode {mode})")
    db.execute("PRAGMA synchronous = NORMAL")
    problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
    if problems != ["ok"]:
        raise StoreError(f"the store {path} is corrupt ({'; '.join(problems)}); "
                         "move it aside to start with an empty store")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"the store {path} has schema version {version}, newer than this "
                         f"voicecall understands ({SCHEMA_VERSION}); upgrade voicecall")
    if version == SCHEMA_VERSION:
        return
    if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise StoreError(f"{path} is an SQLite file but not a voicecall store")
    try:
        db.executescript(
            f"BEGIN IMMEDIATE; {_SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _store_error(path: Path, action: str, exc: sqlite3.Error) -> StoreError:
    detail = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in detail or "malformed" in detail):
        return StoreError(f"the store {path} is corrupt or not a voicecall store ({detail}); "
                          "move it aside to start with an empty store")
    if "locked" in detail:
        return StoreError(f"the store {path} is locked by another process ({detail})")
    return StoreError(f"cannot {action} the store {path}: {detail}")
