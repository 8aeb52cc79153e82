"""The control API's transport: a private Unix socket and HTTP/1.1 framing (h11) of one
request per connection.

:func:`bind_control_socket` prepares the directory (0700), refuses a path a live daemon still
answers, replaces a stale socket file and binds a 0600 socket; the caller owns the returned
listening socket, closes it, and calls :func:`remove_if_ours` when it stops serving.
:class:`HttpConnection` borrows an accepted stream; whoever accepted the stream closes it.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import struct
from http import HTTPStatus
from pathlib import Path

import h11
import trio

from voicecall_cli.protocol import (
    API_PREFIX,
    HTTP_STATUS,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    ApiError,
    ErrorCode,
)

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
PROBE_TIMEOUT_S = 2.0
LISTEN_BACKLOG = 128
_HEAD_READ_BYTES = 4096
_BODY_READ_BYTES = 65536
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

SocketIdentity = tuple[int, int]  # (st_dev, st_ino) of the socket file we bound


class ControlSocketError(Exception):
    """The control socket cannot be set up; the message says why and what to do."""


class SocketInUseError(ControlSocketError):
    """Another live voicecall daemon already serves the socket path."""


class ClientGone(Exception):
    """The client closed the connection, or stopped reading what we send it."""


async def bind_control_socket(path: Path) -> tuple[trio.socket.SocketType, SocketIdentity]:
    """Bind and listen on ``path`` (mode 0600, in a directory that is safe to use).

    Raises :class:`SocketInUseError` when a live daemon answers on ``path`` and
    :class:`ControlSocketError` for an unsafe directory or a path that is not a socket."""
    _prepare_directory(path.parent)
    await _clear_stale_socket(path)
    try:
        sock = _bind_private(path)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:  # another daemon bound it after our check
            await _clear_stale_socket(path)
        reason = exc.strerror or str(exc)
        raise ControlSocketError(f"cannot bind the control socket {path}: {reason}") from exc
    identity = os.stat(path)
    return sock, (identity.st_dev, identity.st_ino)


def remove_if_ours(path: Path, identity: SocketIdentity) -> None:
    """Unlink ``path`` unless it is gone or is no longer the socket file we bound."""
    try:
        current = os.lstat(path)
        if (current.st_dev, current.st_ino) == identity:
            os.unlink(path)
    except FileNotFoundError:
        pass


def peer_uid(sock: trio.socket.SocketType) -> int:
    """The uid of the process at the other end of a connected Unix socket (Linux SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    return _PEERCRED.unpack(creds)[1]


def _prepare_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ControlSocketError(f"cannot create {directory}: {exc.strerror}") from exc
    else:
        os.chmod(directory, 0o700)  # the umask may have removed bits mkdir asked for
        return
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ControlSocketError(f"{directory} is not a directory; choose another socket path")
    if info.st_mode & 0o022 and info.st_uid != os.getuid():
        raise ControlSocketError(
            f"refusing to put the control socket in {directory}: other users can write to it and "
            f"it belongs to uid {info.st_uid}; choose a private directory (--socket)")


async def _clear_stale_socket(path: Path) -> None:
    """Unlink a socket file nobody answers on; raise if a daemon does or it is not a socket."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ControlSocketError(
            f"{path} exists and is not a socket; remove it or choose another socket path")
    try:
        stream = await trio.open_unix_socket(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)  # a dead daemon's leftover
        return
    except OSError as exc:
        raise ControlSocketError(f"cannot check the existing socket {path}: {exc.strerror}"
                                 ) from exc
    async with stream:
        pid = await _ask_pid(stream)
    suffix = f" (pid {pid})" if pid is not None else ""
    raise SocketInUseError(f"another voicecall daemon is already serving {path}{suffix}")


async def _ask_pid(stream: trio.SocketStream) -> int | None:
    """The pid from the live daemon's health answer, or None if it does not give one soon."""
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(method="GET", target=f"{API_PREFIX}/health",
                          headers=[("Host", "voicecall"), ("Connection", "close")])
    body = bytearray()
    with trio.move_on_after(PROBE_TIMEOUT_S):
        try:
            await stream.send_all(client.send(request) + client.send(h11.EndOfMessage()))
            while len(body) <= MAX_BODY_BYTES:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await stream.receive_some(_BODY_READ_BYTES))
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    pid = json.loads(body).get("pid")
                    return pid if isinstance(pid, int) else None
        except (trio.BrokenResourceError, h11.ProtocolError, ValueError, AttributeError):
            return None
    return None


def _bind_private(path: Path) -> trio.socket.SocketType:
    """Bind with a umask that creates the socket file 0600 from the start, then listen."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous_umask = os.umask(0o177)  # no await until restored: no other task sees it
    try:
        sock.bind(os.fspath(path))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    finally:
        os.umask(previous_umask)
    return trio.socket.from_stdlib_socket(sock)


class HttpConnection:
    """The server side of one HTTP/1.1 exchange on ``stream``: one request, one response, close.

    Receiving raises :class:`ApiError` for requests the client got wrong (answer it with
    :meth:`send_error`) and :class:`ClientGone` when the peer vanished. Every send gives up with
    :class:`ClientGone` when the peer does not take the bytes within ``write_timeout_s``."""

    def __init__(self, stream: trio.SocketStream, write_timeout_s: float) -> None:
        self.stream = stream
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._write_timeout_s = write_timeout_s
        self._method = b""

    @property
    def response_started(self) -> bool:
        return self._h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE)

    async def receive_head(self) -> h11.Request:
        """The request line and headers (at most :data:`MAX_HEAD_BYTES`)."""
        received = 0
        while True:
            event = self._next_event()
            if isinstance(event, h11.Request):
                if received - len(self._h11.trailing_data[0]) > MAX_HEAD_BYTES:
                    raise _head_too_large()
                self._method = event.method
                if event.http_version not in (b"1.0", b"1.1"):
                    raise ApiError(ErrorCode.BAD_REQUEST, "malformed HTTP request: HTTP/"
                                   f"{event.http_version.decode('ascii', 'replace')[:10]} "
                                   "is not HTTP/1.1")
                return event
            if event is not h11.NEED_DATA:
                raise ClientGone
            received += await self._receive(_HEAD_READ_BYTES)

    async def receive_body(self, head: h11.Request, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole body; ``payload_too_large`` before reading past ``limit`` bytes."""
        too_large = ApiError(ErrorCode.PAYLOAD_TOO_LARGE,
                             f"request body larger than {limit} bytes")
        length = next((int(v) for k, v in head.headers if k == b"content-length"), None)
        if length is not None and length > limit:
            raise too_large
        if self._h11.they_are_waiting_for_100_continue:
            await self._send(self._h11.send(h11.InformationalResponse(status_code=100,
                                                                      headers=[])))
        body = bytearray()
        while True:
            event = self._next_event()
            if event is h11.NEED_DATA:
                await self._receive(_BODY_READ_BYTES)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise too_large
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            else:
                raise ClientGone

    async def send_json(self, status: int, body: object,
                        extra_headers: list[tuple[str, str]] | None = None) -> None:
        data = json_line(body)
        headers = [*_common_headers("application/json"), ("Content-Length", str(len(data))),
                   *(extra_headers or [])]
        out = self._h11.send(h11.Response(status_code=status, headers=headers,
                                          reason=HTTPStatus(status).phrase))
        if self._method != b"HEAD":
            out += self._h11.send(h11.Data(data=data))
        await self._send(out + self._h11.send(h11.EndOfMessage()))

    async def send_error(self, error: ApiError, *, status: int | None = None,
                         extra_headers: list[tuple[str, str]] | None = None) -> None:
        """Answer with the error body, unless a response already started (then do nothing:
        closing the connection mid-body tells the client)."""
        if not self.response_started:
            await self.send_json(status or HTTP_STATUS[error.code], error.to_body(),
                                 extra_headers)

    async def start_stream(self, content_type: str) -> None:
        """Send a 200 head whose body follows in chunks (HTTP/1.1) until :meth:`end_stream`."""
        headers = [*_common_headers(content_type), ("Cache-Control", "no-store")]
        await self._send(self._h11.send(h11.Response(status_code=200, headers=headers,
                                                     reason="OK")))

    async def send_chunk(self, data: bytes) -> None:
        await self._send(self._h11.send(h11.Data(data=data)))

    async def end_stream(self) -> None:
        await self._send(self._h11.send(h11.EndOfMessage()))

    async def wait_client_closed(self) -> None:
        """Return once the client closes its side; anything it sends meanwhile is dropped."""
        try:
            while await self.stream.receive_some(_HEAD_READ_BYTES):
                pass
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _next_event(self) -> object:
        try:
            return self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:
                raise _head_too_large() from exc
            raise ApiError(ErrorCode.BAD_REQUEST, f"malformed HTTP request: {exc}") from exc

    async def _receive(self, max_bytes: int) -> int:
        try:
            data = await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ClientGone from exc
        self._h11.receive_data(data)
        return len(data)

    async def _send(self, data: bytes) -> None:
        try:
            with trio.fail_after(self._write_timeout_s):
                await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
            raise ClientGone from exc


def json_line(body: object) -> bytes:
    """``body`` as one line of compact JSON in UTF-8. A lone surrogate that slipped into a
    string (the edges refuse them) goes out as its JSON escape ``\\udcXX`` instead of failing
    the answer, so one bad string can never wedge every later status or event stream."""
    return (json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            + "\n").encode("utf-8", "backslashreplace")


def _common_headers(content_type: str) -> list[tuple[str, str]]:
    return [(PROTOCOL_HEADER, str(PROTOCOL_VERSION)), ("Content-Type", content_type),
            ("Connection", "close")]


def _head_too_large() -> ApiError:
    return ApiError(ErrorCode.BAD_REQUEST,
                    f"request line and headers larger than {MAX_HEAD_BYTES} bytes")
