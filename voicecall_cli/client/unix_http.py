"""A minimal HTTP/1.1 client over an AF_UNIX socket, for the daemon's control API only.

Why not ``http.client``: importing it pulls in ``email`` and ``ssl`` (about 15 ms, a fifth of
``voicecall status --json``), and the control API needs a small part of HTTP: one request per
connection (``Connection: close``), a body framed by ``Content-Length``, ``chunked`` or the end
of the stream. Anything else is :class:`MalformedResponse`.

Resource handling: :class:`UnixHttpConnection` owns its socket from :meth:`request` until
:meth:`close`; responses read through it. Every blocking operation obeys ``timeout``
(``TimeoutError``); the peer closing early raises :class:`IncompleteResponse` (a
``ConnectionError``).
"""

from __future__ import annotations

import socket
from pathlib import Path

MAX_HEAD = 64 * 1024
_RECV = 65536


class MalformedResponse(Exception):
    """The peer's answer is not the HTTP/1.1 this client understands."""


class IncompleteResponse(ConnectionError):
    """The peer closed the connection before the response was complete."""


class _Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self) -> None:
        data = self.sock.recv(_RECV)
        if not data:
            self.eof = True
        self.buf += data

    def line(self, limit: int) -> bytes:
        """One CRLF/LF-terminated line, terminator included; IncompleteResponse at EOF."""
        while (end := self.buf.find(b"\n")) < 0:
            if len(self.buf) > limit:
                raise MalformedResponse("header line too long")
            if self.eof:
                raise IncompleteResponse("connection closed in the response head")
            self._fill()
        out = bytes(self.buf[: end + 1])
        del self.buf[: end + 1]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof:
                raise IncompleteResponse("connection closed in the response body")
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def some(self) -> bytes:
        """Whatever is buffered (reading once if nothing is); b"" at EOF."""
        if not self.buf and not self.eof:
            self._fill()
        out = bytes(self.buf)
        self.buf.clear()
        return out


class UnixHttpResponse:
    """Status, headers and the decoded body of one response."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader
        status_line = reader.line(MAX_HEAD).rstrip(b"\r\n").split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
            raise MalformedResponse(f"not an HTTP/1.x status line: {status_line[0][:20]!r}")
        try:
            self.status = int(status_line[1])
        except ValueError:
            raise MalformedResponse("status code is not a number") from None
        self.headers: dict[str, str] = {}
        size = 0
        while (raw := reader.line(MAX_HEAD)) not in (b"\r\n", b"\n"):
            size += len(raw)
            if size > MAX_HEAD:
                raise MalformedResponse("response head too large")
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise MalformedResponse("header line without a colon")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._remaining: int | None = None
        if not self._chunked and length is not None:
            if not (length.isascii() and length.isdigit() and len(length) <= 18):
                raise MalformedResponse("bad Content-Length")
            self._remaining = int(length)
        self._done = False
        self._pending = bytearray()  # decoded body bytes not yet returned

    def getheader(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def _next_piece(self) -> bytes:
        """The next decoded piece of the body; b"" once it is complete."""
        if self._done:
            return b""
        if self._chunked:
            size_line = self._reader.line(MAX_HEAD).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise MalformedResponse("bad chunk size") from None
            if size == 0:
                while self._reader.line(MAX_HEAD) not in (b"\r\n", b"\n"):
                    pass  # trailers
                self._done = True
                return b""
            piece = self._reader.exactly(size)
            if self._reader.line(MAX_HEAD) not in (b"\r\n", b"\n"):
                raise MalformedResponse("chunk not followed by CRLF")
            return piece
        if self._remaining is not None:
            if self._remaining == 0:
                self._done = True
                return b""
            piece = self._reader.some()[: self._remaining]
            if not piece:
                raise IncompleteResponse("connection closed in the response body")
            self._remaining -= len(piece)
            return piece
        piece = self._reader.some()
        if not piece:
            self._done = True
        return piece

    def read(self) -> bytes:
        """The rest of the body."""
        out = bytearray(self._pending)
        self._pending.clear()
        while piece := self._next_piece():
            out += piece
        return bytes(out)

    def readline(self) -> bytes:
        """The next body line with its newline; the unterminated tail or b"" at the end."""
        while (end := self._pending.find(b"\n")) < 0:
            piece = self._next_piece()
            if not piece:
                out = bytes(self._pending)
                self._pending.clear()
                return out
            self._pending += piece
        out = bytes(self._pending[: end + 1])
        del self._pending[: end + 1]
        return out


class UnixHttpConnection:
    """One request/response exchange with the HTTP server on ``socket_path``."""

    def __init__(self, socket_path: Path, timeout: float) -> None:
        self.socket_path = socket_path
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(str(self.socket_path))
            lines = [f"{method} {path} HTTP/1.1", "Host: voicecall", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            if body is not None:
                lines.append(f"Content-Length: {len(body)}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        except BaseException:
            sock.close()
            raise
        self.sock = sock

    def getresponse(self) -> UnixHttpResponse:
        assert self.sock is not None, "request() first"
        return UnixHttpResponse(_Reader(self.sock))

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
