"""The daemon's control API: HTTP/1.1 with JSON bodies over a private Unix socket (DESIGN.md 3).

:func:`serve_control` owns the listening socket and one task per connection, all in its own
nursery. Cancelling it cancels every connection (an open event stream just stops), closes the
listener and removes the socket file if it is still the one it bound. The backend (the daemon)
owns the calls, the event bus and shutdown; each event stream owns the subscription it opened
and closes it when the client goes away, the stream ends or the task is cancelled.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import trio

from voicecall_cli.daemon.bus import Lagged
from voicecall_cli.daemon.control.decoding import events_query, json_object
from voicecall_cli.daemon.control.transport import (
    MAX_BODY_BYTES,
    ClientGone,
    ControlSocketError,
    HttpConnection,
    SocketInUseError,
    bind_control_socket,
    json_line,
    peer_uid,
    remove_if_ours,
)
from voicecall_cli.daemon.store import StoreError
from voicecall_cli.protocol import (
    API_PREFIX,
    REQUESTS,
    ApiError,
    ContinueRequest,
    ErrorCode,
    Request,
    StopRequest,
)
from voicecall_cli.protocol.events import HEARTBEAT, HEARTBEAT_S, LAGGED

__all__ = ["ControlBackend", "ControlSocketError", "Lagged", "SocketInUseError", "Subscription",
           "serve_control"]

log = logging.getLogger("voicecall.control")

REQUEST_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 64  # requests being read or answered at once (event streams not counted)
MAX_FOLLOWERS = 64  # open event streams (``tail``); one more is refused with ``conflict``
_RESOURCE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Subscription(Protocol):
    """One event-stream subscriber (``daemon.bus.Subscription``). ``snapshot`` is the complete
    snapshot line; ``receive`` must lose nothing when cancelled (heartbeats cancel it)."""

    snapshot: dict[str, Any]
    backlog: list[dict[str, Any]]
    cursor: int

    async def receive(self) -> dict[str, Any]:
        """The next live event; raises :class:`Lagged` or ``trio.EndOfChannel``."""
        ...

    def close(self) -> None: ...


class ControlBackend(Protocol):
    """What the control API asks of the daemon."""

    def health(self) -> dict[str, Any]: ...

    async def call_method(self, request: Request) -> dict[str, Any]:
        """Run one RPC (never ``daemon.stop``); raises :class:`ApiError`."""
        ...

    def subscribe(self, since: int | str | None, call_id: str | None) -> Subscription: ...

    def request_stop(self) -> None:
        """Ask the daemon to shut down (it cancels :func:`serve_control` in due course)."""
        ...


async def serve_control(socket_path: Path, backend: ControlBackend, *,
                        allowed_uid: int | None = None,
                        heartbeat_s: float = HEARTBEAT_S,
                        request_timeout_s: float = REQUEST_TIMEOUT_S,
                        max_connections: int = MAX_CONNECTIONS,
                        max_followers: int = MAX_FOLLOWERS,
                        task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the control API on ``socket_path`` until cancelled.

    Raises :class:`SocketInUseError` (before reporting started) when a live daemon answers on
    the path, :class:`ControlSocketError` when the socket cannot be set up safely. Only peers
    whose uid is ``allowed_uid`` (default: ours) are served.

    Two budgets, so long-lived event streams never starve requests: at most
    ``max_connections`` requests are read and answered at once (the rest wait in the listen
    backlog), and a request that opens an event stream gives its request slot back for a
    follower slot; with ``max_followers`` streams open, one more is refused (``conflict``)."""
    listener, identity = await bind_control_socket(socket_path)
    server = _ControlServer(backend, os.getuid() if allowed_uid is None else allowed_uid,
                            heartbeat_s, request_timeout_s, max_followers)
    try:
        async with trio.open_nursery() as nursery:
            task_status.started(socket_path)
            slots = trio.Semaphore(max_connections)
            while True:
                await slots.acquire()
                try:
                    sock, _ = await listener.accept()
                except OSError as exc:
                    slots.release()
                    if exc.errno not in _RESOURCE_ERRNOS:
                        raise
                    log.warning("control socket cannot accept: %s", exc.strerror)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(server.serve_connection, trio.SocketStream(sock),
                                   _Slot(slots))
    finally:
        listener.close()
        remove_if_ours(socket_path, identity)


@dataclass(frozen=True)
class _Exchange:
    handler: Callable[[HttpConnection, _Exchange], Awaitable[None]]
    target: str
    query: str
    body: bytes


class _MethodNotAllowed(ApiError):
    def __init__(self, method: str, path: str, allowed: str) -> None:
        super().__init__(ErrorCode.METHOD_NOT_ALLOWED, f"{path} takes {allowed}, not {method}")
        self.allowed = allowed


class _Slot:
    """One connection's place in a budget (a semaphore it already acquired); released once,
    however many times :meth:`release` is called."""

    def __init__(self, semaphore: trio.Semaphore) -> None:
        self._semaphore: trio.Semaphore | None = semaphore

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore, semaphore = None, self._semaphore
            semaphore.release()


class _ControlServer:
    def __init__(self, backend: ControlBackend, allowed_uid: int, heartbeat_s: float,
                 request_timeout_s: float, max_followers: int = MAX_FOLLOWERS) -> None:
        self.backend = backend
        self.allowed_uid = allowed_uid
        self.heartbeat_s = heartbeat_s
        self.request_timeout_s = request_timeout_s
        self.max_followers = max_followers
        self.followers = trio.Semaphore(max_followers)

    async def serve_connection(self, stream: trio.SocketStream, slot: _Slot) -> None:
        """Answer one request, close the stream and free the request slot (an event stream
        frees it as soon as it holds a follower slot); never raises an Exception (a failing
        connection must not take the server down)."""
        try:
            async with stream:
                await self._respond(HttpConnection(stream, WRITE_TIMEOUT_S), slot)
        except ClientGone:
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            slot.release()

    async def _respond(self, conn: HttpConnection, slot: _Slot) -> None:
        outcome: _Exchange | ApiError | None = None
        with trio.move_on_after(self.request_timeout_s):
            try:
                outcome = await self._receive(conn, peer_uid(conn.stream.socket))
            except ApiError as exc:
                outcome = exc
        if outcome is None:
            await conn.send_error(ApiError(ErrorCode.TIMEOUT, "request not received within "
                                           f"{self.request_timeout_s:g} s"), status=408)
        elif isinstance(outcome, ApiError):
            allow = [("Allow", outcome.allowed)] if isinstance(outcome, _MethodNotAllowed) else []
            await conn.send_error(outcome, extra_headers=allow)
        elif outcome.handler == self._events:
            await self._follow(conn, outcome, slot)
        else:
            await self._run(conn, outcome)

    async def _follow(self, conn: HttpConnection, exchange: _Exchange, slot: _Slot) -> None:
        """An event stream: it holds a follower slot, not a request slot, while it lasts."""
        try:
            self.followers.acquire_nowait()
        except trio.WouldBlock:
            await conn.send_error(ApiError(
                ErrorCode.CONFLICT, f"too many event streams open ({self.max_followers}); "
                "stop a voicecall tail and try again"))
            return
        try:
            slot.release()
            await self._run(conn, exchange)
        finally:
            self.followers.release()

    async def _receive(self, conn: HttpConnection, uid: int) -> _Exchange:
        """Read the whole request, then check the peer and route it. (Reading first means a
        refused client sees our answer, not a broken pipe while it still sends its body.)"""
        head = await conn.receive_head()
        body = await conn.receive_body(head, MAX_BODY_BYTES)
        if uid != self.allowed_uid:
            log.warning("refused a control connection from uid %d", uid)
            raise ApiError(ErrorCode.PERMISSION_DENIED,
                           f"this daemon serves only uid {self.allowed_uid}")
        target = head.target.decode("ascii", "replace")
        url = urlsplit(target)
        method = head.method.decode("ascii", "replace")
        allowed, handler = self._route(url.path)
        if method != allowed:
            raise _MethodNotAllowed(method, url.path, allowed)
        return _Exchange(handler, target, url.query, body)

    def _route(self, path: str) -> tuple[str, Callable[[HttpConnection, _Exchange],
                                                         Awaitable[None]]]:
        prefix = f"{API_PREFIX}/"
        name = path[len(prefix):] if path.startswith(prefix) else ""
        if name == "health":
            return "GET", self._health
        if name == "events":
            return "GET", self._events
        if name == StopRequest.METHOD:
            return "POST", self._stop
        if name in REQUESTS:
            return "POST", partial(self._call, REQUESTS[name])
        raise ApiError(ErrorCode.NOT_FOUND, f"no such endpoint: {path}")

    async def _run(self, conn: HttpConnection, exchange: _Exchange) -> None:
        try:
            await exchange.handler(conn, exchange)
        except ClientGone:
            raise
        except ApiError as exc:
            await conn.send_error(exc)
        except StoreError as exc:  # the message names the file and why, never a secret
            log.error("control request %s failed: %s", exchange.target, exc)
            await conn.send_error(ApiError(ErrorCode.STORE_UNAVAILABLE, str(exc)))
        except Exception:
            log.exception("control request %s failed", exchange.target)
            await conn.send_error(ApiError(ErrorCode.INTERNAL,
                                           "internal error in the daemon; see its log"))

    async def _health(self, conn: HttpConnection, exchange: _Exchange) -> None:
        await conn.send_json(200, self.backend.health())

    async def _call(self, request_type: type[Request], conn: HttpConnection,
                    exchange: _Exchange) -> None:
        request = request_type.parse(json_object(exchange.body))
        if not isinstance(request, ContinueRequest):
            await conn.send_json(200, await self.backend.call_method(request))
            return
        # A turn is only a wait for its client: when the client goes (Ctrl-C on `continue`)
        # the turn ends, or it would refuse the next `continue` as a conflict until it timed out.
        result: dict[str, Any] | None = None
        # raised outside the nursery, not in an ExceptionGroup, so _run answers it by its kind
        failed: ApiError | StoreError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_client, conn, nursery.cancel_scope)
            try:
                result = await self.backend.call_method(request)
            except (ApiError, StoreError) as exc:
                failed = exc
            nursery.cancel_scope.cancel()
        if failed is not None:
            raise failed
        if result is None:
            raise ClientGone
        await conn.send_json(200, result)

    async def _stop(self, conn: HttpConnection, exchange: _Exchange) -> None:
        StopRequest.parse(json_object(exchange.body))
        try:
            await conn.send_json(200, {"ok": True})
        finally:
            self.backend.request_stop()

    async def _events(self, conn: HttpConnection, exchange: _Exchange) -> None:
        since, call_id = events_query(exchange.query)
        subscription = self.backend.subscribe(since, call_id)
        try:
            await conn.start_stream("application/x-ndjson")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch_client, conn, nursery.cancel_scope)
                await self._pump_events(conn, subscription)
                nursery.cancel_scope.cancel()
        finally:
            subscription.close()

    async def _watch_client(self, conn: HttpConnection, stream_scope: trio.CancelScope) -> None:
        await conn.wait_client_closed()
        stream_scope.cancel()

    async def _pump_events(self, conn: HttpConnection, subscription: Subscription) -> None:
        """Snapshot, backlog, a heartbeat, then live events; a heartbeat after each
        ``heartbeat_s`` idle.
        Ends with the terminating chunk when the bus closes or after a ``lagged`` line."""
        cursor = subscription.cursor

        async def write(line: dict[str, Any]) -> None:
            nonlocal cursor
            if isinstance(line.get("cursor"), int):
                cursor = max(cursor, line["cursor"])
            await conn.send_chunk(json_line(line))

        try:
            await write(subscription.snapshot)
            for event in subscription.backlog:
                await write(event)
            # "Caught up": a reader replaying history (tail --no-follow) can stop here.
            await write({"type": HEARTBEAT, "cursor": cursor, "ts": int(time.time() * 1000)})
            while True:
                outcome: dict[str, Any] | Lagged | None = None
                with trio.move_on_after(self.heartbeat_s):
                    try:
                        outcome = await subscription.receive()
                    except Lagged as exc:
                        outcome = exc
                    except trio.EndOfChannel:
                        break
                if outcome is None:
                    await write({"type": HEARTBEAT, "cursor": cursor,
                                 "ts": int(time.time() * 1000)})
                elif isinstance(outcome, Lagged):
                    await write({"type": LAGGED, "cursor": outcome.cursor})
                    break
                else:
                    await write(outcome)
            await conn.end_stream()
        except ClientGone:
            pass
