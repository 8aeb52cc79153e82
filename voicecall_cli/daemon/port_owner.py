"""Who listens on a TCP port: the pid behind "serve.port 3334 is in use (by pid N)".

Linux only and best effort: the listening socket's inode is read from ``/proc/net/tcp`` and
``/proc/net/tcp6``, then looked for among the file descriptors of the processes we may inspect
(our own user's, or all of them as root). Anything unreadable means "unknown" (None), never an
error: this only makes an error message more helpful.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

_LISTEN = "0A"
_PROC = Path("/proc")


def listening_inodes(table: str, port: int) -> set[str]:
    """Inodes of the sockets listening on ``port`` in one ``/proc/net/tcp[6]`` text (pure)."""
    inodes = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        _, _, port_hex = fields[1].rpartition(":")
        try:
            if int(port_hex, 16) == port and fields[9] != "0":
                inodes.add(fields[9])
        except ValueError:
            continue
    return inodes


def pid_listening_on(port: int, proc: Path = _PROC) -> int | None:
    """The pid of a process listening on TCP ``port`` (any address), or None when unknown."""
    inodes: set[str] = set()
    for name in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / name).read_text(), port)
        except OSError:
            continue
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in _pids(proc):
        try:
            fds = list((proc / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in targets:
                    return pid
            except OSError:
                continue
    return None


def _pids(proc: Path) -> Iterable[int]:
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())
