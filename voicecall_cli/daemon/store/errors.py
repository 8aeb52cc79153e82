"""How the store fails: one exception, :class:`StoreError`, whose message names the file.

Every SQLite failure (corrupt file, disk full, locked) that reaches a caller of the store is
raised as a :class:`StoreError` made by :func:`store_error`; the ``sqlite3`` exception is not
chained, so the message alone says what happened and what to do.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StoreError(Exception):
    """The store cannot be opened, read or written; the message says which file and why.

    ``transient``: the failure may clear without its user (a full disk, an I/O error, a lock
    held by another process), unlike a corrupt file or a directory that cannot be made."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def store_error(path: Path, action: str, exc: sqlite3.Error) -> StoreError:
    """The :class:`StoreError` for ``exc``, raised while trying to ``action`` the store."""
    detail = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in detail or "malformed" in detail):
        return StoreError(f"the store {path} is corrupt or not a voicecall store ({detail}); "
                          "move it aside to start with an empty store")
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    if name == "SQLITE_FULL" or name.startswith("SQLITE_IOERR_WRITE") or "disk is full" in detail:
        return StoreError(f"the store {path} cannot be written: disk full or the file cannot "
                          f"grow ({detail})", transient=True)
    if name.startswith("SQLITE_IOERR"):
        return StoreError(f"the store {path} cannot be {'read' if action == 'read' else 'written'}"
                          f": I/O error ({detail}, {name})", transient=True)
    if "locked" in detail:
        return StoreError(f"the store {path} is locked by another process ({detail})",
                          transient=True)
    return StoreError(f"cannot {action} the store {path}: {detail}")
