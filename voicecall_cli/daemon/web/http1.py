"""The lean HTTP/1.1 front of the webhook server: plain webhook requests without hypercorn.

Why: hypercorn's per-request machinery (h11 events, its protocol layers, one task and one
memory channel per request) costs ~400 us of CPU per request on this kind of machine, as much
as the reference spends on a whole webhook (DESIGN section 8). This front reads requests
straight from the (non-blocking) socket, runs :class:`~.pipeline.WebhookPipeline` in the
connection's task and writes each response with one ``send``.

What it serves itself, on a keep-alive connection, request after request: a request whose head
is plain HTTP/1.1 (request line ``METHOD /path[?query] HTTP/1.1``, token header names, no
control characters in values, a ``Host``, at most one all-digit ``Content-Length``, no
``Transfer-Encoding``, ``Upgrade`` or ``Expect``, ``Connection`` only ``close``/``keep-alive``)
and whose raw path (no percent escapes) is the webhook path or a provider's static page
(``HEAD`` excepted).
Everything else, from its first byte on (websocket upgrades to the media streams, other paths,
chunked bodies, HTTP/1.0, heads it finds odd or larger than ``MAX_HEAD``), goes to ``handoff``:
hypercorn then serves the rest of that connection through the ASGI dispatcher, so an odd
request gets exactly the answer it got before this front existed.

Limits: a keep-alive connection that sends no complete head within ``keep_alive_timeout_s``
is closed; a body must arrive within the pipeline's ``body_timeout_s`` (408) and ``max_body``
(413, declared length checked before reading); a request whose body has not arrived takes a
stalled-body slot of its source address (429 when there is none, see
:class:`~.pipeline.InFlight`). A request refused before its body was read (401, 405, 408, 413,
429) is answered with ``connection: close`` and the connection closed.

Resource handling: :meth:`Http1Front.serve` owns the listening socket's accept loop and every
connection it accepted (each in one task of its nursery) until it hands one to ``handoff``,
which then owns it. Cancellation closes them all.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from wsgiref.handlers import format_date_time

import trio

from voicecall_cli.core.config import normalize_url_path
from voicecall_cli.daemon.web.pipeline import (
    INTERNAL_ERROR,
    TIMEOUT,
    TOO_LARGE,
    Answer,
    Headers,
    Reject,
    RequestHead,
    WebhookPipeline,
    add_header,
)

logger = logging.getLogger("voicecall.web")

MAX_HEAD = 16 * 1024  # h11's default limit for an incomplete event; larger heads go to it
RECV_SIZE = 65536
SEND_TIMEOUT_S = 30.0
YIELD_EVERY = 8  # requests a connection may answer back to back without a checkpoint
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BAD_TARGET = re.compile(rb"[\x00-\x20\x7f-\xff%#]")
_HANDED_OFF = frozenset((b"transfer-encoding", b"upgrade", b"expect", b"http2-settings"))
_REASONS = {200: b"OK", 204: b"No Content", 400: b"Bad Request", 401: b"Unauthorized",
            404: b"Not Found", 405: b"Method Not Allowed", 408: b"Request Timeout",
            413: b"Payload Too Large", 429: b"Too Many Requests",
            500: b"Internal Server Error", 503: b"Service Unavailable"}
_ACCEPT_RETRY = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}

Handoff = Callable[[trio.abc.HalfCloseableStream], Awaitable[None]]


class _Gone(Exception):
    """The peer closed, reset, or stopped reading: drop the connection."""


class _Head:
    __slots__ = ("close", "headers", "length", "method", "query", "raw_path")

    def __init__(self, method: str, raw_path: str, query: str, headers: dict[str, str],
                 length: int, close: bool) -> None:
        self.method, self.raw_path, self.query = method, raw_path, query
        self.headers, self.length, self.close = headers, length, close


def parse_head(raw: bytes) -> _Head | None:
    """The head (without its blank line) if this front serves it, else None."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not _TOKEN.fullmatch(parts[0]):
        return None
    target = parts[1]
    if not target.startswith(b"/") or _BAD_TARGET.search(target):
        return None
    headers: dict[str, str] = {}
    length: int | None = None
    close = False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            return None  # also a folded line (leading whitespace)
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            return None
        lname = name.lower()
        if lname in _HANDED_OFF:
            return None
        if lname == b"content-length":
            if length is not None or not value.isdigit() or len(value) > 18:
                return None
            length = int(value)
        elif lname == b"connection":
            tokens = {t.strip().lower() for t in value.split(b",")}
            if not tokens <= {b"close", b"keep-alive"}:
                return None
            close = b"close" in tokens
        add_header(headers, lname.decode("latin-1"), value.decode("latin-1"))
    if "host" not in headers:
        return None
    path, _, query = target.decode("latin-1").partition("?")
    return _Head(parts[0].decode("latin-1"), path, query, headers, length or 0, close)


class _Dates:
    """The ``Date`` header value, formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, format_date_time(second).encode()
        return self._value


def serialize(answer: Answer, date: bytes, close: bool) -> bytes:
    """The response bytes; raises ValueError for a header that would split the response."""
    lines = [b"HTTP/1.1 %d %s" % (answer.status, _REASONS.get(answer.status, b"Unknown"))]
    for name, value in answer.headers:
        if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value:
            raise ValueError("header with a line break")
        lines.append(name + b": " + value)
    lines.append(b"content-length: %d" % len(answer.body))
    lines.append(b"date: " + date)
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + answer.body


class Http1Front:
    """Accepts connections and serves plain webhook requests; hands the rest to ``handoff``.

    ``pages`` maps a static page's path to its (headers, body)."""

    def __init__(self, pipeline: WebhookPipeline, webhook_path: str, handoff: Handoff, *,
                 pages: dict[str, tuple[Headers, bytes]],
                 keep_alive_timeout_s: float = 5.0) -> None:
        self._pipeline = pipeline
        self._webhook_path = normalize_url_path(webhook_path)
        self._handoff = handoff
        self._pages = pages
        self._keep_alive_timeout_s = keep_alive_timeout_s
        self._dates = _Dates()

    async def serve(self, listener: socket.socket, *,
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Accept on ``listener`` (bound and listening; this closes it) until cancelled."""
        listener.setblocking(False)
        try:
            async with trio.open_nursery() as nursery:
                task_status.started()
                while True:
                    await trio.lowlevel.wait_readable(listener)
                    while True:
                        try:
                            conn, address = listener.accept()
                        except BlockingIOError:
                            break
                        except OSError as exc:
                            if exc.errno in _ACCEPT_RETRY:  # out of descriptors: back off
                                logger.error("webhook server cannot accept: %s", exc.strerror)
                                await trio.sleep(0.1)
                            break
                        nursery.start_soon(self._connection, conn, address[0])
        finally:
            trio.lowlevel.notify_closing(listener)
            listener.close()

    async def _connection(self, conn: socket.socket, remote_addr: str) -> None:
        handed_off = False
        try:
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handed_off = await self._requests(conn, remote_addr)
        except _Gone:
            pass
        finally:
            if not handed_off:
                trio.lowlevel.notify_closing(conn)
                conn.close()

    async def _requests(self, conn: socket.socket, remote_addr: str) -> bool:
        """Serve requests until the connection ends (False) or was handed off (True)."""
        buffer = b""
        unyielded = 0  # requests answered since this task last let others run (at most)
        while True:
            end = buffer.find(b"\r\n\r\n")
            deadline = trio.current_time() + self._keep_alive_timeout_s
            while end < 0:
                if len(buffer) > MAX_HEAD or b"\n\n" in buffer:
                    return await self._hand_off(conn, buffer)
                data = await _receive(conn, deadline)
                if not data:
                    return False  # closed, reset, or idle too long
                buffer += data
                end = buffer.find(b"\r\n\r\n")
            head = parse_head(buffer[:end])
            route = self._route(head)
            if route is None:
                return await self._hand_off(conn, buffer)
            assert head is not None
            body_start = end + 4
            if route == "page":
                answer, keep = self._page(head), not head.close
                buffer = buffer[body_start:]
            else:
                answer, consumed = await self._webhook(conn, head, buffer, body_start,
                                                       remote_addr)
                keep = consumed is not None and not head.close
                buffer = consumed if consumed is not None else b""
            try:
                data = serialize(answer, self._dates.now(), not keep)
            except ValueError:
                logger.exception("webhook reply has an invalid header")
                data, keep = serialize(INTERNAL_ERROR, self._dates.now(), True), False
            await _send_all(conn, data)
            if not keep:
                return False
            unyielded += 1
            if unyielded >= YIELD_EVERY:  # a client pipelining requests cannot hog the loop
                unyielded = 0
                await trio.lowlevel.checkpoint()

    def _route(self, head: _Head | None) -> str | None:
        if head is None or head.method == "HEAD":  # a HEAD answer has no body: hypercorn's
            return None
        if head.raw_path in self._pages and head.length == 0:
            return "page"
        if normalize_url_path(head.raw_path) == self._webhook_path:
            return "webhook"
        return None

    def _page(self, head: _Head) -> Answer:
        headers, body = self._pages[head.raw_path]
        return Answer(200, headers, body)

    async def _webhook(self, conn: socket.socket, head: _Head, buffer: bytes, body_start: int,
                       remote_addr: str) -> tuple[Answer, bytes | None]:
        """The answer, and what is left of the buffer after this request's body (None: the
        body was not read, so the connection cannot carry another request)."""
        pipeline = self._pipeline
        request = RequestHead(method=head.method, path=head.raw_path, raw_path=head.raw_path,
                              query_string=head.query, headers=head.headers,
                              remote_addr=remote_addr)
        refusal = pipeline.check_head(request)
        if refusal is not None:
            rest = buffer[body_start:]
            return refusal, (rest[head.length:] if len(rest) >= head.length else None)
        if head.length > pipeline.max_body:
            return TOO_LARGE, None
        end = body_start + head.length
        try:
            if len(buffer) < end:
                buffer = await self._rest_of_body(conn, buffer, end, remote_addr)
        except Reject as reject:
            return reject.answer, None
        answer = await pipeline.answer(request, buffer[body_start:end])
        return answer, buffer[end:]

    async def _rest_of_body(self, conn: socket.socket, buffer: bytes, end: int,
                            remote_addr: str) -> bytes:
        """Read until ``buffer`` holds ``end`` bytes: first what the kernel already has, then,
        holding a stalled-body slot, what the network still has to bring."""
        pipeline = self._pipeline
        deadline = trio.current_time() + pipeline.body_timeout_s
        while len(buffer) < end:
            try:
                data = conn.recv(RECV_SIZE)
            except BlockingIOError:
                break
            except OSError:
                raise _Gone from None
            if not data:
                raise _Gone
            buffer += data
        if len(buffer) >= end:
            return buffer
        with pipeline.in_flight.slot(remote_addr):
            while len(buffer) < end:
                data = await _receive(conn, deadline)
                if data is None:
                    raise Reject(TIMEOUT)
                if not data:
                    raise _Gone
                buffer += data
        return buffer

    async def _hand_off(self, conn: socket.socket, buffer: bytes) -> bool:
        stream = _Prefixed(trio.SocketStream(trio.socket.from_stdlib_socket(conn)), buffer)
        await self._handoff(stream)
        return True


async def _receive(conn: socket.socket, deadline: float) -> bytes | None:
    """Bytes from ``conn``: b"" at EOF or reset, None if nothing came before ``deadline``."""
    while True:
        try:
            return conn.recv(RECV_SIZE)
        except BlockingIOError:
            pass
        except OSError:
            return b""
        with trio.move_on_at(deadline):
            await trio.lowlevel.wait_readable(conn)
            continue
        return None


async def _send_all(conn: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    deadline = trio.current_time() + SEND_TIMEOUT_S
    while view:
        try:
            view = view[conn.send(view):]
        except BlockingIOError:
            with trio.move_on_at(deadline) as scope:
                await trio.lowlevel.wait_writable(conn)
            if scope.cancelled_caught:
                raise _Gone from None
        except OSError:
            raise _Gone from None


class _Prefixed(trio.abc.HalfCloseableStream):
    """A socket stream that first yields the bytes this front already read from it.

    hypercorn's connection handler reads ``.socket`` for the peer's address."""

    def __init__(self, stream: trio.SocketStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix
        self.socket = stream.socket

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._prefix:
            await trio.lowlevel.checkpoint()
            data, self._prefix = self._prefix, b""
            return data
        return await self._stream.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()
