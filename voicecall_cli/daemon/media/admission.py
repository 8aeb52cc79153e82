"""Which media sockets the endpoint takes on, before any frame is read (reference 5.1).

:class:`Admission` answers the upgrade request for the endpoint
(:class:`~voicecall_cli.daemon.media.endpoint.MediaStreams`):

* malformed (not exactly one ``Host`` that is ``host[:port]``, or not one valid
  ``Sec-WebSocket-Key``: :func:`.upgrade.upgrade_problem`) -> HTTP 400, before anything is
  counted or held;
* the endpoint not running -> HTTP 503 "Media stream handler is shutting down";
* ``max_connections`` sockets already open (counted from the upgrade request until its ASGI
  call returns: :meth:`Admission.counted`) -> HTTP 503 "Too many media stream connections";
* once accepted, a socket is *pending* until a valid ``start``: beyond ``max_pending`` pending
  sockets, or ``max_pending_per_ip`` from one client IP, it is closed 1013 "Too many pending
  media stream connections" (:meth:`Admission.take_pending`); the endpoint gives the slot back
  (:meth:`Admission.release_pending`) when the stream starts or the socket ends.

Refusals are logged through the endpoint's rate-limited :class:`.guard.EndpointLog`.
Holds no resource beyond its counters; used from the daemon's one trio thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from voicecall_cli.daemon.media.connection import Connection
from voicecall_cli.daemon.media.guard import EndpointLog, PendingSlots
from voicecall_cli.daemon.media.upgrade import refuse, upgrade_problem

Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Any]

TOO_MANY_CONNECTIONS = b"Too many media stream connections\n"
SHUTTING_DOWN = b"Media stream handler is shutting down\n"
TOO_MANY_PENDING = "Too many pending media stream connections"


class Admission:
    """The endpoint's socket limits (see the module docstring)."""

    def __init__(self, *, max_connections: int, max_pending: int, max_pending_per_ip: int,
                 log: EndpointLog) -> None:
        self._max_connections = max_connections
        self._pending = PendingSlots(max_pending, max_pending_per_ip)
        self._log = log
        self.open = 0  # sockets from the upgrade request until their ASGI call returns

    async def refused(self, scope: Scope, send: Send, *, running: bool) -> bool:
        """Answer an upgrade that may not go on (400 or 503); True when it was refused."""
        problem = upgrade_problem(scope)
        if problem is not None:
            self._log.log(logging.WARNING, "media stream upgrade refused (400): %s", problem)
            await refuse(scope, send, 400, problem.encode() + b"\n")
            return True
        if not running:
            await refuse(scope, send, 503, SHUTTING_DOWN)
            return True
        if self.open >= self._max_connections:
            self._log.log(logging.WARNING, "media stream refused: %d connections open",
                          self.open)
            await refuse(scope, send, 503, TOO_MANY_CONNECTIONS)
            return True
        return False

    @contextmanager
    def counted(self) -> Iterator[None]:
        """The socket counts against ``max_connections`` while this is open."""
        self.open += 1
        try:
            yield
        finally:
            self.open -= 1

    async def take_pending(self, client_ip: str, send: Send) -> bool:
        """Take a pending slot for a socket from ``client_ip``; when none is free, accept and
        close it 1013 and return False."""
        if self._pending.take(client_ip):
            return True
        self._log.log(logging.WARNING, "media stream from %s refused: too many pending",
                      client_ip)
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1013, "reason": TOO_MANY_PENDING})
        return False

    def release_pending(self, connection: Connection) -> None:
        """The socket's stream started or the socket ended: its pending slot is free (once)."""
        if connection.pending:
            connection.pending = False
            self._pending.give_back(connection.client_ip)
