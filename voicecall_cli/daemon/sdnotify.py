"""systemd's notify protocol, sent by the daemon itself (no libsystemd needed).

``notify("READY=1")`` sends one datagram to ``$NOTIFY_SOCKET`` (an abstract socket when it
starts with ``@``); without that variable it does nothing. :func:`watchdog_interval_s` tells how
often to send ``WATCHDOG=1`` (half of ``$WATCHDOG_USEC``), or None when no watchdog is set.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(state: str, env: Mapping[str, str] = os.environ) -> bool:
    address = env.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_interval_s(env: Mapping[str, str] = os.environ) -> float | None:
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
