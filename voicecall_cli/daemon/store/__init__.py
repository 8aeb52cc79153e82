"""The daemon's durable state: one SQLite file (stdlib ``sqlite3``, WAL) in the store directory.

Ownership: the daemon opens one :class:`Store` at start (``Store.open``), calls it synchronously
from the trio thread and closes it last. Every method is one short transaction committed before
it returns (or joins the enclosing ``Store.batch()``); there is nothing to cancel: a call either
commits or raises, and every SQLite failure is raised as :class:`StoreError`.

Modules: ``connection`` (open/close, transactions, batches, retention), ``schema`` (tables,
schema version), ``errors``, and one mixin per table: ``calls``, ``events`` (the event log and
its cursor), ``keys`` (processed webhook keys), ``journal`` (the outbound dial journal) and
``idempotency`` (the idempotency keys written with journal entries) and ``hooks`` (the post-call
hook's runs).
"""

from voicecall_cli.daemon.store.calls import CallTable
from voicecall_cli.daemon.store.connection import BUSY_TIMEOUT_S, FILENAME, Retention
from voicecall_cli.daemon.store.errors import StoreError
from voicecall_cli.daemon.store.events import EventLog
from voicecall_cli.daemon.store.hooks import (
    HOOK_FAILED,
    HOOK_INTERRUPTED,
    HOOK_OK,
    HOOK_PENDING,
    HOOK_STARTED,
    HookRuns,
)
from voicecall_cli.daemon.store.idempotency import KeyedCall
from voicecall_cli.daemon.store.journal import (
    JOURNAL_DIALLING,
    JOURNAL_FAILED,
    JOURNAL_PLACED,
    Journal,
)
from voicecall_cli.daemon.store.keys import ProcessedKeys
from voicecall_cli.daemon.store.schema import SCHEMA_VERSION


class Store(CallTable, EventLog, ProcessedKeys, Journal, HookRuns):
    """One open SQLite store. Not thread-safe: use it from the thread that opened it.

    One class over one connection: each table's methods come from its mixin, and opening,
    closing, ``batch`` and ``after_commit`` from :class:`~.connection.Connection`."""


__all__ = [
    "BUSY_TIMEOUT_S",
    "FILENAME",
    "HOOK_FAILED",
    "HOOK_INTERRUPTED",
    "HOOK_OK",
    "HOOK_PENDING",
    "HOOK_STARTED",
    "JOURNAL_DIALLING",
    "JOURNAL_FAILED",
    "JOURNAL_PLACED",
    "SCHEMA_VERSION",
    "KeyedCall",
    "Retention",
    "Store",
    "StoreError",
]
