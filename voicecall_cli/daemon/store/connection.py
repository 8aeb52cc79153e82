"""The store's connection: opening and closing the file, transactions, batches, retention.

:class:`Connection` owns the one ``sqlite3`` connection from :meth:`Connection.open` until
:meth:`Connection.close`; the table mixins (``calls``, ``events``, ``keys``, ``journal``,
``idempotency``) build on it and :class:`~voicecall_cli.daemon.store.Store` combines them.
Every write is one short transaction committed before the method returns (or joins the
enclosing :meth:`~Connection.batch`).
WAL with ``synchronous=NORMAL``: a commit is in the OS page cache when it returns, so a
``kill -9`` of the daemon loses no acknowledged write (the e2e and durability tests kill it);
only an OS crash or power loss can drop the newest commits, which ends the calls themselves
too. FULL would fsync every commit: it cost a third of the webhook path's time under load.
There is nothing to cancel: a call either commits or raises. Every SQLite failure (corrupt
file, disk full, locked) is raised as :class:`StoreError` with a message that names the file.

Retention keeps every table bounded (see :class:`Retention`); each mixin keeps a counter in
memory (loaded in :meth:`Connection._load_counters`) that makes the check free, and pruning
(:func:`trim`) happens in batches, not on every write.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from voicecall_cli.daemon.store.errors import StoreError, store_error
from voicecall_cli.daemon.store.schema import prepare

FILENAME = "voicecall.sqlite3"
BUSY_TIMEOUT_S = 1.0


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
    idempotency_ms: int = 24 * 3_600_000  # how long an idempotency key answers for its call


def dumps(value: Any) -> str:
    """Compact JSON, as stored in the ``record`` and ``data`` columns."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def trim(db: sqlite3.Connection, table: str, order: str, excess: int, where: str = "") -> int:
    """Delete the ``excess`` rows of ``table`` that come first by ``order``; returns how many."""
    condition = f"WHERE {where}" if where else ""
    return db.execute(
        f"DELETE FROM {table} WHERE {order} IN"
        f" (SELECT {order} FROM {table} {condition} ORDER BY {order} LIMIT ?)", (excess,)
    ).rowcount


class Connection:
    """One open SQLite store. Not thread-safe: use it from the thread that opened it."""

    def __init__(self, path: Path, db: sqlite3.Connection, retention: Retention) -> None:
        self.path = path
        self.retention = retention
        self._db: sqlite3.Connection | None = db
        self._batch_depth = 0
        self._batch_failure: BaseException | None = None
        self._after_commit: list[Callable[[], None]] = []
        with self._guard("read"):
            self._load_counters()

    def _load_counters(self) -> None:
        """Read each table's in-memory counters; every mixin extends this (calling super)."""

    def _before_commit(self) -> None:
        """Write what the mixins deferred during the batch (each mixin extends this)."""

    def _after_rollback(self) -> None:
        """Drop what the mixins deferred during a batch that rolled back (each extends it)."""

    def _call_became_terminal(self, db: sqlite3.Connection, call_id: str, at_ms: int) -> None:
        """Inside the transaction that makes a call's record terminal (mixins extend it: the
        post-call hook's row is written here)."""

    def _reload_counters(self) -> None:
        """After a rollback: the counters again from the file (best effort: a store that
        cannot even be read keeps the old ones; its next write fails anyway)."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error, StoreError):
                self._load_counters()

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path, *, retention: Retention = Retention()) -> Self:
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
            prepare(db, path)
            return cls(path, db, retention)
        except sqlite3.Error as exc:
            if db is not None:
                db.close()
            raise store_error(path, "open", exc) from None
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- batches -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Make every write inside one transaction: one commit (one fsync) for all of them.

        Nested batches join the outer one. Callbacks given to :meth:`after_commit` inside run
        once the commit succeeded (in order), and are dropped if it fails or rolls back. No
        ``await`` may happen inside a batch (the daemon's callers are synchronous).

        All or nothing: once any store call inside the batch has failed (raised), the whole
        batch rolls back and its exit raises that write's :class:`StoreError`, even when the caller
        caught the error and carried on; so what commits is never a silent subset (a webhook
        acknowledged after its batch committed is stored in full). A rollback reloads the
        tables' in-memory counters, which the failed writes had already moved."""
        if self._batch_depth:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
            return
        self._batch_failure = None
        try:
            with self._transaction():
                self._batch_depth = 1
                try:
                    yield
                    if self._batch_failure is None:
                        self._before_commit()  # deferred writes (they may fail the batch too)
                finally:
                    self._batch_depth = 0
                if self._batch_failure is not None:  # a write failed and its caller went on
                    raise self._batch_failure
        except BaseException:
            self._after_commit.clear()
            self._batch_failure = None
            self._after_rollback()
            self._reload_counters()
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

    # -- for the table mixins ----------------------------------------------------------------

    def _scalar(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        row = self._conn().execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"the store {self.path} is closed")
        return self._db

    def _guard(self, action: str) -> _Guard:
        """``with self._guard("read"):`` turns a ``sqlite3.Error`` into a :class:`StoreError`."""
        return _Guard(self, action)

    def _transaction(self) -> _Transaction:
        """BEGIN IMMEDIATE .. COMMIT; anything raised inside rolls back and propagates.
        Inside :meth:`batch` it joins the batch's transaction instead (and a failure inside
        marks the batch failed). A small class, not a generator: every write enters one."""
        return _Transaction(self)

    def _failed(self, error: BaseException) -> None:
        if self._batch_depth and self._batch_failure is None:  # reads too: what the batch's
            self._batch_failure = error  # caller decided on may be incomplete


class _Guard:
    __slots__ = ("_action", "_store")

    def __init__(self, store: Connection, action: str) -> None:
        self._store, self._action = store, action

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, sqlite3.Error):
            error = store_error(self._store.path, self._action, exc)
            self._store._failed(error)
            raise error from None


class _Transaction:
    __slots__ = ("_db", "_joined", "_store")

    def __init__(self, store: Connection) -> None:
        self._store = store
        self._db = store._conn()
        self._joined = bool(store._batch_depth)

    def __enter__(self) -> sqlite3.Connection:
        if not self._joined:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise store_error(self._store.path, "write", exc) from None
        return self._db

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        store, db = self._store, self._db
        if self._joined:
            if exc is not None:  # this write is half done: the batch cannot commit
                error = (store_error(store.path, "write", exc)
                         if isinstance(exc, sqlite3.Error) else exc)
                store._failed(error)
                if error is not exc:
                    raise error from None
            return
        if exc is None:
            try:
                db.execute("COMMIT")
                return
            except sqlite3.Error as commit_error:
                exc = commit_error
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise store_error(store.path, "write", exc) from None
