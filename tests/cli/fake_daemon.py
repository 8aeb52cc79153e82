"""A stand-in for the daemon's control API: HTTP/1.1 + JSON over a Unix socket, in a thread.

It speaks the real wire format (the protocol header on every response, JSON error bodies,
chunked NDJSON for ``GET /v1/events``) and answers from canned routes that a test sets up.
Every request is recorded so a test can check what the CLI sent. ``stop()`` closes the
listener, removes the socket file and releases any stream held open.
"""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from voicecall_cli.protocol import PROTOCOL_HEADER, PROTOCOL_VERSION, ApiError, ErrorCode

HOLD_LIMIT_S = 20.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    raw: bytes | None = None  # sent instead of JSON when set
    headers: dict[str, str] = field(default_factory=dict)
    protocol: str | None = str(PROTOCOL_VERSION)  # None: no protocol header at all
    delay_s: float = 0.0
    after: Callable[[], None] | None = None  # run once the reply is sent


@dataclass
class Stream:
    """NDJSON lines (dicts, or bytes sent verbatim), then ``hold`` the stream open or end it."""

    lines: list[Any]
    hold: bool = True


class FakeDaemon:
    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.routes: dict[tuple[str, str], Reply | Stream | Callable[[Recorded], Reply]] = {}
        self.requests: list[Recorded] = []
        self.released = threading.Event()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up helpers -------------------------------------------------------------------

    def on(self, method: str, path: str, reply: Reply | Stream | Callable[[Recorded], Reply]
           ) -> None:
        self.routes[(method, path)] = reply

    def answer(self, rpc: str, body: Any, **kw: Any) -> None:
        self.on("POST", f"/v1/{rpc}", Reply(200, body, **kw))

    def fail(self, rpc: str, code: ErrorCode, message: str) -> None:
        err = ApiError(code, message)
        self.on("POST", f"/v1/{rpc}", Reply(err.http_status, err.to_body()))

    def bodies(self, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.path == path]

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> FakeDaemon:
        fake = self

        class Handler(_Handler):
            daemon = fake

        server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.released.set()
        if self._server is not None:
            server, self._server = self._server, None
            server.shutdown()
            server.server_close()
            self.socket_path.unlink(missing_ok=True)

    def stop_soon(self) -> None:
        """Stop from a request handler (after its reply), as the real ``daemon.stop`` does."""
        threading.Thread(target=self.stop, daemon=True).start()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    daemon: FakeDaemon

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        recorded = Recorded(method, url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                            json.loads(raw) if raw else None, dict(self.headers.items()))
        self.daemon.requests.append(recorded)
        route = self.daemon.routes.get((method, url.path))
        if route is None:
            err = ApiError(ErrorCode.NOT_FOUND, f"no route {method} {url.path}")
            route = Reply(err.http_status, err.to_body())
        if callable(route):
            route = route(recorded)
        if isinstance(route, Stream):
            self._stream(route)
        else:
            self._reply(route)

    def _reply(self, reply: Reply) -> None:
        if reply.delay_s:
            self.daemon.released.wait(reply.delay_s)
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        if reply.protocol is not None:
            self.send_header(PROTOCOL_HEADER, reply.protocol)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()
        if reply.after is not None:
            reply.after()

    def _stream(self, stream: Stream) -> None:
        self.send_response(200)
        self.send_header(PROTOCOL_HEADER, str(PROTOCOL_VERSION))
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in stream.lines:
                data = line if isinstance(line, bytes) else json.dumps(line).encode()
                self._chunk(data + b"\n")
            if stream.hold:
                # Keep the stream open, as a live daemon does, until the test ends.
                deadline = time.monotonic() + HOLD_LIMIT_S
                while not self.daemon.released.wait(0.05) and time.monotonic() < deadline:
                    pass
            self._chunk(b"")
        except OSError:
            pass  # the client left, as it may

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
