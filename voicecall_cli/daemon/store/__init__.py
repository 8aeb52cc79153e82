"""The daemon's durable state: one SQLite file in the store directory (see :mod:`.connection`)."""

from voicecall_cli.daemon.store.connection import (
    BUSY_TIMEOUT_S,
    FILENAME,
    JOURNAL_DIALLING,
    JOURNAL_FAILED,
    JOURNAL_PLACED,
    SCHEMA_VERSION,
    Retention,
    Store,
    StoreError,
)

__all__ = [
    "BUSY_TIMEOUT_S",
    "FILENAME",
    "JOURNAL_DIALLING",
    "JOURNAL_FAILED",
    "JOURNAL_PLACED",
    "SCHEMA_VERSION",
    "Retention",
    "Store",
    "StoreError",
]
