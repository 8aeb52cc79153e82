"""The daemon's control API: HTTP/1.1 with JSON bodies over a private Unix socket (DESIGN.md 3).

:func:`serve_control` owns the listening socket and one task per connection, all in its own
nursery. Cancelling it cancels every connection (an open event stream just stops), closes the
listener and removes the socket file if it is still the one it bound. The backend (the daemon)
owns the calls, the event bus and shutdown; each event stream owns the subscription it opened
and closes it when the client goes away, the stream ends or the task is cancelled.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import trio

from voicecall_cli.daemon.bus import Lagged
from voicecall_cli.daemon.control.transport import (
    MAX_BODY_BYTES,
    ClientGone,
    ControlSocketError,
    HttpConnection,
    SocketInUseError,
    bind_control_socket,
    peer_uid,
    remove_if_ours,
)
from voicecall_cli.protocol import (
    API_PREFIX,
    REQUESTS,
    ApiError,
    ContinueRequest,
    ErrorCode,
    Request,
    StopRequest,
)
from voicecall_cli.protocol.events import HEARTBEAT, HEARTBEAT_S, LAGGED, SINCE_ALL

__all__ = ["ControlBackend", "ControlSocketError", "Lagged", "SocketInUseError", "Subscription",
           "serve_control"]

log = logging.getLogger("voicecall.control")

REQUEST_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 30.0
MAX_CONNECTIONS = 64
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
                        task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the control API on ``socket_path`` until cancelled.

    Raises :class:`SocketInUseError` (before reporting started) when a live daemon answers on
    the path, :class:`ControlSocketError` when the socket cannot be set up safely. Only peers
    whose uid is ``allowed_uid`` (default: ours) are served; at most ``max_connections`` at
    once, the rest wait in the listen backlog."""
    listener, identity = await bind_control_socket(socket_path)
    server = _ControlServer(backend, os.getuid() if allowed_uid is None else allowed_uid,
                            heartbeat_s, request_timeout_s)
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
                nursery.start_soon(server.serve_connection, trio.SocketStream(sock), slots)
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


class _ControlServer:
    def __init__(self, backend: ControlBackend, allowed_uid: int, heartbeat_s: float,
                 request_timeout_s: float) -> None:
        self.backend = backend
        self.allowed_uid = allowed_uid
        self.heartbeat_s = heartbeat_s
        self.request_timeout_s = request_timeout_s

    async def serve_connection(self, stream: trio.SocketStream, slots: trio.Semaphore) -> None:
        """Answer one request, close the stream and free the slot; never raises an Exception
        (a failing connection must not take the server down)."""
        try:
            async with stream:
                await self._respond(HttpConnection(stream, WRITE_TIMEOUT_S))
        except ClientGone:
            pass
        except Exception:
            log.exception("control connection failed")
        finally:
            slots.release()

    async def _respond(self, conn: HttpConnection) -> None:
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
        else:
            await self._run(conn, outcome)

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
        except Exception:
            log.exception("control request %s failed", exchange.target)
            await conn.send_error(ApiError(ErrorCode.INTERNAL,
                                           "internal error in the daemon; see its log"))

    async def _health(self, conn: HttpConnection, exchange: _Exchange) -> None:
        await conn.send_json(200, self.backend.health())

    async def _call(self, request_type: type[Request], conn: HttpConnection,
                    exchange: _Exchange) -> None:
        request = request_type.parse(_json_object(exchange.body))
        if not isinstance(request, ContinueRequest):
            await conn.send_json(200, await self.backend.call_method(request))
            return
        # A turn is only a wait for its client: when the client goes (Ctrl-C on `continue`)
        # the turn ends, or it would refuse the next `continue` as a conflict until it timed out.
        result: dict[str, Any] | None = None
        failed: ApiError | None = None  # raised outside the nursery, not in an ExceptionGroup
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_client, conn, nursery.cancel_scope)
            try:
                result = await self.backend.call_method(request)
            except ApiError as exc:
                failed = exc
            nursery.cancel_scope.cancel()
        if failed is not None:
            raise failed
        if result is None:
            raise ClientGone
        await conn.send_json(200, result)

    async def _stop(self, conn: HttpConnection, exchange: _Exchange) -> None:
        StopRequest.parse(_json_object(exchange.body))
        try:
            await conn.send_json(200, {"ok": True})
        finally:
            self.backend.request_stop()

    async def _events(self, conn: HttpConnection, exchange: _Exchange) -> None:
        since, call_id = _events_query(exchange.query)
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
            await conn.send_chunk(json.dumps(line, ensure_ascii=False,
                                             separators=(",", ":")).encode() + b"\n")

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


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The decoded JSON object of a request body (None when empty); ``bad_request`` naming
    what is wrong otherwise."""
    if not body.strip():
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"request body is not valid JSON: {exc.msg} "
                       f"(line {exc.lineno}, column {exc.colno})") from exc
    except UnicodeDecodeError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, "request body is not UTF-8 text") from exc
    except RecursionError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, "request body is nested too deeply") from exc
    if not isinstance(value, dict):
        raise ApiError(ErrorCode.BAD_REQUEST,
                       f"request body must be a JSON object, not {_json_kind(value)}")
    return value


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "true/false" if isinstance(value, bool) else "a number"


def _events_query(query: str) -> tuple[int | str | None, str | None]:
    """``since`` (None, ``"all"`` or a cursor >= 0) and ``callId`` of ``GET /v1/events``."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query),
                          max_num_fields=8)
    except ValueError as exc:
        raise ApiError(ErrorCode.BAD_REQUEST, f"malformed query string: {exc}") from exc
    unknown = sorted(set(params) - {"since", "callId"})
    if unknown:
        raise ApiError(ErrorCode.BAD_REQUEST, f"unknown query parameter {unknown[0]!r}")
    for name, values in params.items():
        if len(values) != 1:
            raise ApiError(ErrorCode.BAD_REQUEST, f"{name} given more than once")
    since_text = params.get("since", [None])[0]
    since: int | str | None = since_text
    if since_text is not None and since_text != SINCE_ALL:
        if not since_text.isascii() or not since_text.isdigit():
            raise ApiError(ErrorCode.BAD_REQUEST,
                           f"since must be a cursor (0 or more) or {SINCE_ALL!r}, "
                           f"not {since_text!r}")
        since = int(since_text)
    call_id = params.get("callId", [""])[0].strip() or None
    return since, call_id
