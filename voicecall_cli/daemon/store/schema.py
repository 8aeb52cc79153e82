"""The store's schema: its tables, its version, and how an opened file is brought to it.

Six tables: call records (the ``CallRecord.to_dict()`` JSON plus indexed columns), the event log
(whose ``INTEGER PRIMARY KEY AUTOINCREMENT`` is the stream ``cursor``, never reused, even after
pruning), processed webhook keys (dedupe/replay across restarts), the outbound journal (written
before the provider is asked to dial, so a restart never dials twice) and the idempotency keys
of outbound requests (written in the journal entry's transaction), and the post-call hook's
runs (a row written in the transaction that makes a call terminal; see :mod:`.hooks`).

The schema version is the file's ``PRAGMA user_version``. :func:`prepare` creates the schema in
an empty file, brings an older file up to :data:`SCHEMA_VERSION` and refuses a newer one or a
foreign SQLite file. Migrations: a schema change raises :data:`SCHEMA_VERSION` and appends, to
:data:`_STEPS`, the DDL that brings a file from the previous version to the new one; never edit
a step that has shipped. A new file runs every step in order, so a new file and a migrated one
have the same schema. Each step runs in its own ``BEGIN IMMEDIATE`` transaction with the
version bump, re-reading the version inside it (two processes opening one old file migrate it
once).

Versions: 1, the first; 2, ``idempotency_keys`` and the journal indexes of the outbound rate
limits (``begun_at``, and ``to_number, begun_at``); 3, ``hook_runs`` (additive).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from voicecall_cli.daemon.store.errors import StoreError

_V1 = """
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

_V2 = """
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idempotency_by_age ON idempotency_keys(created_at);
CREATE INDEX journal_by_begun ON outbound_journal(begun_at);
CREATE INDEX journal_by_to ON outbound_journal(to_number, begun_at);
"""

_V3 = """
CREATE TABLE hook_runs (
    id INTEGER PRIMARY KEY,
    call_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,  -- pending | started | ok | failed | interrupted
    created_at INTEGER NOT NULL,
    kind TEXT,  -- command | url, once started
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX hook_runs_by_status ON hook_runs(status, id);
"""

# _STEPS[n] brings a file at version n to version n + 1 (version 0: an empty file).
_STEPS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(_STEPS)


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """WAL + NORMAL sync, check the file, then create, migrate or accept the schema.

    Raises :class:`StoreError` for a file that cannot use WAL, is corrupt, has a newer schema
    or is some other application's SQLite file; ``sqlite3`` errors propagate unchanged (the
    caller, which owns ``db``, turns them into a :class:`StoreError` and closes ``db``)."""
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
    if version == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise StoreError(f"{path} is an SQLite file but not a voicecall store")
    for step in range(version, SCHEMA_VERSION):
        _apply(db, step)


def _apply(db: sqlite3.Connection, step: int) -> None:
    """Run ``_STEPS[step]`` and set the version to ``step + 1``, in one transaction; nothing
    when another process got there first."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] == step:
            for statement in _STEPS[step].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {step + 1}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
