"""The control API over a real Unix socket, driven by raw socket clients, stdlib http.client and
curl: routing, error mapping, limits against bad clients, socket safety, the event stream."""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import shutil
import socket
import stat
import tempfile
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from voicecall_cli.daemon.control.server import (
    ControlSocketError,
    Lagged,
    SocketInUseError,
    serve_control,
)
from voicecall_cli.protocol import (
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    ApiError,
    ContinueRequest,
    EndRequest,
    ErrorCode,
    InitiateRequest,
    SpeakRequest,
    StatusRequest,
)

HEALTH = {"ok": True, "version": "0.0.test", "protocol": PROTOCOL_VERSION, "pid": 4242,
          "uptimeS": 1.5, "provider": "mock", "activeCalls": 1}
SNAPSHOT = {"type": "snapshot", "cursor": 7, "calls": [{"callId": "c1", "state": "active"}]}
BACKLOG = [{"cursor": 6, "ts": 1, "callId": "c1", "type": "call.state", "data": {}},
           {"cursor": 7, "ts": 2, "callId": "c1", "type": "call.transcript", "data": {}}]
HEALTH_REQUEST = b"GET /v1/health HTTP/1.1\r\nHost: voicecall\r\n\r\n"


class FakeSubscription:
    """Fed by the test through ``feed`` (events, or exceptions to raise from receive)."""

    def __init__(self, *, ended: bool) -> None:
        self.snapshot = dict(SNAPSHOT)
        self.backlog = list(BACKLOG)
        self.cursor = SNAPSHOT["cursor"]
        self.feed, self._events = trio.open_memory_channel[Any](math.inf)
        self.closed = trio.Event()
        if ended:
            self.feed.close()

    async def receive(self) -> dict[str, Any]:
        item = await self._events.receive()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self.closed.set()


@dataclass
class FakeBackend:
    failure: Exception | None = None
    streams_end_at_once: bool = False
    requests: list[Any] = field(default_factory=list)
    subscribed: list[tuple[Any, Any]] = field(default_factory=list)
    subscriptions: list[FakeSubscription] = field(default_factory=list)
    stop_requested: trio.Event = field(default_factory=trio.Event)

    def health(self) -> dict[str, Any]:
        return dict(HEALTH)

    async def call_method(self, request: Any) -> dict[str, Any]:
        self.requests.append(request)
        if self.failure is not None:
            raise self.failure
        return {"method": request.METHOD, "echo": request.to_body()}

    def subscribe(self, since: Any, call_id: Any) -> FakeSubscription:
        self.subscribed.append((since, call_id))
        self.subscriptions.append(FakeSubscription(ended=self.streams_end_at_once))
        return self.subscriptions[-1]

    def request_stop(self) -> None:
        self.stop_requested.set()


@pytest.fixture
def sock_dir():
    path = Path(tempfile.mkdtemp(prefix="vc", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sock(sock_dir: Path) -> Path:
    return sock_dir / "run" / "control.sock"


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@asynccontextmanager
async def serving(path: Path, backend: FakeBackend, **options: Any):
    async with trio.open_nursery() as nursery:
        assert await nursery.start(partial(serve_control, path, backend, **options)) == path
        yield
        nursery.cancel_scope.cancel()


# --- clients ---------------------------------------------------------------------------------

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("voicecall", timeout=5)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.unix_path))


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


def _http_blocking(path: Path, method: str, url: str, body: Any) -> Reply:
    conn = UnixHTTPConnection(path)
    try:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        conn.request(method, url, body=data)
        response = conn.getresponse()
        raw = response.read()
        return Reply(response.status, response.headers, json.loads(raw) if raw else None)
    finally:
        conn.close()


async def http(path: Path, method: str, url: str, body: Any = None) -> Reply:
    return await trio.to_thread.run_sync(_http_blocking, path, method, url, body)


class RawClient:
    """A trio socket client that reads the response by hand (no HTTP library)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.lines = bytearray()

    @classmethod
    async def connect(cls, path: Path) -> RawClient:
        return cls(await trio.open_unix_socket(str(path)))

    async def _fill(self) -> bool:
        try:
            chunk = await self.stream.receive_some(65536)
        except trio.BrokenResourceError:  # server closed with our bytes unread
            chunk = b""
        self.buffer += chunk
        return bool(chunk)

    async def _until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            assert await self._fill(), f"connection closed before {separator!r}"
        part, _, rest = bytes(self.buffer).partition(separator)
        self.buffer = bytearray(rest)
        return part

    async def head(self) -> tuple[int, dict[str, str]]:
        while True:
            status_line, *header_lines = (await self._until(b"\r\n\r\n")).decode().split("\r\n")
            status = int(status_line.split()[1])
            if status >= 200:
                headers = dict(line.split(": ", 1) for line in header_lines)
                return status, {k.lower(): v for k, v in headers.items()}

    async def rest(self) -> bytes:
        while await self._fill():
            pass
        return bytes(self.buffer)

    async def next_chunk(self) -> bytes:
        size = int(await self._until(b"\r\n"), 16)
        while len(self.buffer) < size + 2:
            assert await self._fill(), "connection closed inside a chunk"
        data, self.buffer = bytes(self.buffer[:size]), self.buffer[size + 2:]
        return data

    async def next_line(self) -> dict[str, Any]:
        while b"\n" not in self.lines:
            chunk = await self.next_chunk()
            assert chunk, "stream ended"
            self.lines += chunk
        line, _, rest = bytes(self.lines).partition(b"\n")
        self.lines = bytearray(rest)
        return json.loads(line)


async def raw_exchange(path: Path, data: bytes) -> tuple[int, dict[str, str], Any]:
    client = await RawClient.connect(path)
    async with client.stream:
        with suppress(trio.BrokenResourceError):  # the server may refuse before reading all
            await client.stream.send_all(data)
        status, headers = await client.head()
        body = await client.rest()
    return status, headers, json.loads(body) if body else None


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: voicecall\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


async def assert_still_healthy(path: Path) -> None:
    status, headers, body = await raw_exchange(path, HEALTH_REQUEST)
    assert (status, body) == (200, HEALTH)
    assert headers[PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)


# --- requests and responses ------------------------------------------------------------------

async def test_health_round_trip_carries_the_protocol_version(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            reply = await http(sock, "GET", "/v1/health")
    assert reply.status == 200
    assert reply.body == HEALTH
    assert reply.headers[PROTOCOL_HEADER] == str(PROTOCOL_VERSION)
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Connection"] == "close"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
async def test_curl_reads_health_over_the_socket(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            done = await trio.run_process(
                ["curl", "-sS", "--unix-socket", str(sock), "http://voicecall/v1/health"],
                capture_stdout=True)
    assert json.loads(done.stdout) == HEALTH


@pytest.mark.parametrize(("method", "body", "parsed"), [
    ("voicecall.initiate", {"to": "+15550001111", "message": "hi", "mode": "notify"},
     InitiateRequest(message="hi", to="+15550001111", mode="notify")),
    ("voicecall.continue", {"callId": "c1", "message": "and?", "timeoutMs": 5000},
     ContinueRequest(callId="c1", message="and?", timeoutMs=5000)),
    ("voicecall.speak", {"callId": "c1", "message": "hello"},
     SpeakRequest(callId="c1", message="hello")),
    ("voicecall.end", {"callId": "c1"}, EndRequest(callId="c1")),
    ("voicecall.status", {"callId": "c1"}, StatusRequest(callId="c1")),
    ("voicecall.status", None, StatusRequest()),
])
async def test_each_method_reaches_the_backend_parsed(sock, backend, method, body, parsed):
    with trio.fail_after(10):
        async with serving(sock, backend):
            reply = await http(sock, "POST", f"/v1/{method}", body)
    assert reply.status == 200
    assert reply.body == {"method": method, "echo": parsed.to_body()}
    assert backend.requests == [parsed]


async def test_daemon_stop_answers_then_asks_the_daemon_to_stop(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            reply = await http(sock, "POST", "/v1/daemon.stop")
            assert (reply.status, reply.body) == (200, {"ok": True})
            await backend.stop_requested.wait()
    assert backend.requests == []


@pytest.mark.parametrize(("code", "status"), [
    (ErrorCode.CALL_NOT_FOUND, 404), (ErrorCode.CONFLICT, 409), (ErrorCode.TIMEOUT, 504),
    (ErrorCode.OPERATION_FAILED, 502), (ErrorCode.CONFIG_ERROR, 422),
])
async def test_backend_errors_keep_their_code_and_status(sock, code, status):
    backend = FakeBackend(failure=ApiError(code, "it went wrong"))
    with trio.fail_after(10):
        async with serving(sock, backend):
            reply = await http(sock, "POST", "/v1/voicecall.end", {"callId": "c9"})
    assert reply.status == status
    assert reply.body == {"error": {"code": code.value, "message": "it went wrong"}}
    assert reply.headers[PROTOCOL_HEADER] == str(PROTOCOL_VERSION)


async def test_invalid_request_fields_are_bad_request_and_never_reach_the_backend(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            missing = await http(sock, "POST", "/v1/voicecall.speak", {"callId": "c1"})
            unknown = await http(sock, "POST", "/v1/daemon.stop", {"force": True})
    assert (missing.status, missing.body["error"]) == (
        400, {"code": "bad_request", "message": "message required"})
    assert unknown.status == 400 and "force" in unknown.body["error"]["message"]
    assert backend.requests == [] and not backend.stop_requested.is_set()


async def test_unexpected_failure_is_a_generic_500_and_the_daemon_keeps_serving(sock, caplog):
    backend = FakeBackend(failure=RuntimeError("db password=hunter2"))
    with trio.fail_after(10):
        async with serving(sock, backend):
            reply = await http(sock, "POST", "/v1/voicecall.status", {})
            await assert_still_healthy(sock)
    assert reply.status == 500
    assert reply.body["error"]["code"] == "internal"
    assert "hunter2" not in json.dumps(reply.body)
    logged = [r for r in caplog.records if r.name == "voicecall.control"]
    assert logged and logged[0].levelno == logging.ERROR and logged[0].exc_info


@pytest.mark.parametrize(("request_bytes", "status", "allow"), [
    (b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
    (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
    (b"GET /v1/voicecall.end HTTP/1.1\r\nHost: x\r\n\r\n", 405, "POST"),
    (b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", 405, "GET"),
    (b"DELETE /v1/events HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET"),
    (b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "GET"),
])
async def test_unknown_paths_and_wrong_methods(sock, backend, request_bytes, status, allow):
    with trio.fail_after(10):
        async with serving(sock, backend):
            got_status, headers, body = await raw_exchange(sock, request_bytes)
    assert got_status == status
    assert headers[PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)
    assert headers.get("allow") == allow
    if not request_bytes.startswith(b"HEAD"):
        expected = "not_found" if status == 404 else "method_not_allowed"
        assert body["error"]["code"] == expected


# --- bad clients -----------------------------------------------------------------------------

@pytest.mark.parametrize(("request_bytes", "status", "message"), [
    (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400, "malformed HTTP request"),
    (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400,
     "malformed HTTP request"),
    (b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 400,
     "larger than 16384 bytes"),
    (b"x" * 40_000, 400, "larger than 16384 bytes"),
    (post("/v1/voicecall.speak", b'{"callId": "c1", "mess'), 400, "not valid JSON"),
    (post("/v1/voicecall.speak", b"callId=c1&message=hi"), 400, "not valid JSON"),
    (post("/v1/voicecall.speak", b'["c1", "hi"]'), 400, "must be a JSON object, not an array"),
    (post("/v1/voicecall.speak", b'{"callId": "\xff"}'), 400, "not UTF-8"),
    (post("/v1/voicecall.end", b"[" * 200_000), 400, "nested too deeply"),
    (post("/v1/voicecall.speak", b"{}")[:-2].replace(b"Length: 2", b"Length: 2097152")
     + b'{"callId": "c1"', 413, "larger than 1048576 bytes"),
    (post("/v1/voicecall.speak", b"", "Expect: 100-continue\r\n").replace(
        b"Length: 0", b"Length: 2097152"), 413, "larger than 1048576 bytes"),
    (b"POST /v1/voicecall.speak HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     + b"100000\r\n" + b" " * 0x100000 + b"\r\n10\r\n" + b" " * 16 + b"\r\n0\r\n\r\n",
     413, "larger than 1048576 bytes"),
])
async def test_bad_requests_are_refused_and_the_server_keeps_answering(
        sock, backend, request_bytes, status, message):
    with trio.fail_after(10):
        async with serving(sock, backend):
            got_status, headers, body = await raw_exchange(sock, request_bytes)
            await assert_still_healthy(sock)
    assert got_status == status
    assert headers[PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)
    assert headers["connection"] == "close"
    assert body["error"]["code"] == ("payload_too_large" if status == 413 else "bad_request")
    assert message in body["error"]["message"]
    assert backend.requests == []


async def test_a_slow_client_is_cut_off_while_others_are_served(sock, backend, autojump_clock):
    with trio.fail_after(60):
        async with serving(sock, backend, request_timeout_s=5):
            slow = await RawClient.connect(sock)
            for byte in HEALTH_REQUEST[:20]:  # drip-feed, never finishing the request
                await slow.stream.send_all(bytes([byte]))
                await trio.sleep(0.2)
            await assert_still_healthy(sock)
            assert trio.current_time() < 5
            status, _ = await slow.head()
            body = json.loads(await slow.rest())
            assert 5 <= trio.current_time() < 6
            await assert_still_healthy(sock)
    assert status == 408
    assert body["error"]["code"] == "timeout"


async def test_connections_beyond_the_limit_wait_their_turn(sock, backend, autojump_clock):
    with trio.fail_after(60):
        async with serving(sock, backend, request_timeout_s=5, max_connections=1):
            idle = await RawClient.connect(sock)
            await assert_still_healthy(sock)  # queued behind the idle one until it is cut off
            assert trio.current_time() >= 5
            assert (await idle.head())[0] == 408


async def test_other_users_are_refused(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend, allowed_uid=os.getuid() + 1):
            reply = await http(sock, "POST", "/v1/voicecall.end", {"callId": "c1"})
    assert reply.status == 403
    assert reply.body["error"]["code"] == "permission_denied"
    assert reply.headers[PROTOCOL_HEADER] == str(PROTOCOL_VERSION)
    assert backend.requests == []


# --- the socket file -------------------------------------------------------------------------

async def test_socket_is_0600_in_a_0700_directory_whatever_the_umask(sock, backend):
    previous = os.umask(0)
    try:
        with trio.fail_after(10):
            async with serving(sock, backend):
                socket_mode = os.stat(sock).st_mode
                dir_mode = os.stat(sock.parent).st_mode
    finally:
        os.umask(previous)
    assert stat.S_ISSOCK(socket_mode) and stat.S_IMODE(socket_mode) == 0o600
    assert stat.S_IMODE(dir_mode) == 0o700


async def test_a_directory_others_can_write_is_refused(sock_dir, backend):
    if os.getuid() == 0:
        shared = sock_dir / "shared"
        shared.mkdir()
        os.chmod(shared, 0o777)
        os.chown(shared, 65534, 65534)
    else:
        shared = Path("/tmp")  # world-writable and owned by root
    with trio.fail_after(10), pytest.raises(ControlSocketError, match="other users can write"):
        await serve_control(shared / f"vc-{os.getpid()}.sock", backend)
    assert not (shared / f"vc-{os.getpid()}.sock").exists()


async def test_a_stale_socket_file_is_replaced(sock, backend):
    sock.parent.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()  # a daemon that died without unlinking
    with trio.fail_after(10):
        async with serving(sock, backend):
            await assert_still_healthy(sock)
    assert not sock.exists()


async def test_a_file_that_is_not_a_socket_is_left_alone(sock, backend):
    sock.parent.mkdir(mode=0o700)
    sock.write_text("precious")
    with trio.fail_after(10), pytest.raises(ControlSocketError, match="is not a socket"):
        await serve_control(sock, backend)
    assert sock.read_text() == "precious"


async def test_a_second_daemon_refuses_to_start_on_a_live_socket(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            with pytest.raises(SocketInUseError) as refused:
                await serve_control(sock, FakeBackend())
            await assert_still_healthy(sock)
    assert str(refused.value) == f"another voicecall daemon is already serving {sock} (pid 4242)"


async def test_the_socket_file_is_removed_on_shutdown_only_if_still_ours(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            assert sock.exists()
        assert not sock.exists()
        replacement = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            async with serving(sock, backend):
                sock.unlink()  # say an operator moved a newer daemon onto the path
                replacement.bind(str(sock))
            assert sock.exists()
        finally:
            replacement.close()


# --- the event stream ------------------------------------------------------------------------

async def open_events(path: Path, query: str = "") -> tuple[RawClient, int, dict[str, str]]:
    client = await RawClient.connect(path)
    await client.stream.send_all(f"GET /v1/events{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers = await client.head()
    return client, status, headers


async def test_events_stream_snapshot_backlog_live_then_lagged(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            client, status, headers = await open_events(sock, "?since=5")
            assert status == 200
            assert headers["content-type"] == "application/x-ndjson"
            assert headers["transfer-encoding"] == "chunked"
            assert headers[PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)
            assert [await client.next_line() for _ in range(3)] == [SNAPSHOT, *BACKLOG]
            caught_up = await client.next_line()  # the backlog is over
            assert caught_up["type"] == "heartbeat" and caught_up["cursor"] == 7
            subscription = backend.subscriptions[0]
            live = {"cursor": 8, "ts": 3, "callId": "c1", "type": "call.ended", "data": {}}
            await subscription.feed.send(live)
            assert await client.next_line() == live
            await subscription.feed.send(Lagged(8))
            assert await client.next_line() == {"type": "lagged", "cursor": 8}
            assert await client.next_chunk() == b""  # the terminating chunk
            assert await client.rest() == b""  # then the server closes
            await subscription.closed.wait()


async def test_events_heartbeat_while_idle_carries_the_latest_cursor(sock, backend,
                                                                     autojump_clock):
    with trio.fail_after(60):
        async with serving(sock, backend, heartbeat_s=2):
            client, _, _ = await open_events(sock)
            assert [await client.next_line() for _ in range(3)] == [SNAPSHOT, *BACKLOG]
            assert (await client.next_line())["type"] == "heartbeat"  # caught up, at once
            started = trio.current_time()
            beat = await client.next_line()
            assert beat["type"] == "heartbeat" and beat["cursor"] == 7
            assert isinstance(beat["ts"], int)
            assert trio.current_time() - started == pytest.approx(2, abs=0.1)
            await backend.subscriptions[0].feed.send({"cursor": 9, "type": "call.state"})
            assert (await client.next_line())["cursor"] == 9
            assert (await client.next_line())["cursor"] == 9  # next heartbeat
            await client.stream.aclose()


async def test_events_end_cleanly_when_the_bus_closes(sock):
    backend = FakeBackend(streams_end_at_once=True)
    with trio.fail_after(10):
        async with serving(sock, backend):
            conn = UnixHTTPConnection(sock)

            def read_all() -> tuple[http.client.HTTPResponse, bytes]:
                conn.request("GET", "/v1/events?since=all&callId=c1")
                response = conn.getresponse()
                return response, response.read()  # http.client checks the chunked framing

            try:
                response, body = await trio.to_thread.run_sync(read_all)
            finally:
                conn.close()
            await backend.subscriptions[0].closed.wait()
    assert response.status == 200
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[:3] == [SNAPSHOT, *BACKLOG]
    assert [line["type"] for line in lines[3:]] == ["heartbeat"]
    assert backend.subscribed == [("all", "c1")]


async def test_a_client_leaving_closes_its_subscription(sock, backend):
    with trio.fail_after(10):
        async with serving(sock, backend):
            client, _, _ = await open_events(sock)
            assert await client.next_line() == SNAPSHOT
            await client.stream.aclose()
            await backend.subscriptions[0].closed.wait()
            await assert_still_healthy(sock)


@pytest.mark.parametrize(("query", "expected"), [
    ("", (None, None)), ("?since=all", ("all", None)), ("?since=0", (0, None)),
    ("?since=12&callId=abc", (12, "abc")), ("?callId=abc", (None, "abc")),
])
async def test_events_query_reaches_the_backend(sock, backend, query, expected):
    backend.streams_end_at_once = True
    with trio.fail_after(10):
        async with serving(sock, backend):
            client, status, _ = await open_events(sock, query)
            await client.rest()
    assert status == 200
    assert backend.subscribed == [expected]


@pytest.mark.parametrize("query", ["?since=-1", "?since=abc", "?since=", "?since=1&since=2",
                                   "?call_id=c1", "?since=%C2%B2"])
async def test_events_bad_query_is_bad_request(sock, backend, query):
    with trio.fail_after(10):
        async with serving(sock, backend):
            client, status, _ = await open_events(sock, query)
            body = json.loads(await client.rest())
    assert status == 400
    assert body["error"]["code"] == "bad_request"
    assert backend.subscribed == []
