"""Making a real daemon's store fail: its file-size limit, lowered and raised from outside.

``resource.prlimit`` sets another process's ``RLIMIT_FSIZE`` (same user, no root needed): with
a soft limit of one byte every write that would grow a file (the store's WAL, its log) fails
with ``EFBIG``; the daemon, like every Python process, ignores ``SIGXFSZ``, so it sees the
error instead of dying. Raising the limit again is "space returned". A preexec_fn also ignores
SIGXFSZ before exec, in case the interpreter ever stops doing it.
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


def ignore_sigxfsz() -> None:
    """A ``preexec_fn``: writes past the size limit fail with EFBIG instead of killing."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def set_file_size_limit(pid: int, limit: int | None) -> None:
    """Lower the soft file-size limit of ``pid`` to ``limit`` bytes (None: unlimited)."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    soft = resource.RLIM_INFINITY if limit is None else limit
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


@contextmanager
def disk_full(pid: int) -> Iterator[None]:
    """No file of ``pid`` can grow by one byte until the block ends."""
    set_file_size_limit(pid, 1)
    try:
        yield
    finally:
        set_file_size_limit(pid, None)
