"""Making a real daemon's store fail: its file-size limit, lowered and raised from outside.

``resource.prlimit`` sets another process's ``RLIMIT_FSIZE`` (same user, no root needed): with
a soft limit of one byte every write that would grow a file (the store's WAL, its log) fails
with ``EFBIG``; the daemon, like every Python process (CPython sets it at start-up), ignores
``SIGXFSZ``, so it sees the error instead of dying (:func:`disk_full` checks that first).
Raising the limit again is "space returned".
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager


def ignores_sigxfsz(pid: int) -> bool:
    """Whether process ``pid`` ignores SIGXFSZ (``SigIgn`` in /proc/PID/status)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        mask = next(line for line in fh if line.startswith("SigIgn:")).split()[1]
    return bool(int(mask, 16) >> (signal.SIGXFSZ - 1) & 1)


def set_file_size_limit(pid: int, limit: int | None) -> None:
    """Lower the soft file-size limit of ``pid`` to ``limit`` bytes (None: unlimited)."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    soft = resource.RLIM_INFINITY if limit is None else limit
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))


@contextmanager
def disk_full(pid: int) -> Iterator[None]:
    """No file of ``pid`` can grow by one byte until the block ends."""
    assert ignores_sigxfsz(pid), "the daemon would be killed, not see EFBIG"
    set_file_size_limit(pid, 1)
    try:
        yield
    finally:
        set_file_size_limit(pid, None)
