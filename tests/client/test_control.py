"""ControlClient against real local peers: the fake daemon, a dead socket, a non-HTTP server."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from tests.cli.conftest import Env
from tests.cli.fake_daemon import FakeDaemon, Reply, Stream
from voicecall_cli.client import ControlClient
from voicecall_cli.protocol import ApiError, ErrorCode


async def in_thread(func, *args):
    with trio.fail_after(10):
        return await trio.to_thread.run_sync(func, *args, abandon_on_cancel=True)


def error_code(func, *args) -> tuple[ErrorCode, str]:
    try:
        func(*args)
    except ApiError as err:
        return err.code, err.message
    raise AssertionError("no ApiError raised")


async def test_health_and_call(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, {"ok": True, "pid": 1}))
    fake.answer("voicecall.end", {"success": True})
    client = ControlClient(env.socket, timeout=5)
    assert await in_thread(client.health) == {"ok": True, "pid": 1}
    assert await in_thread(client.call, "voicecall.end", {"callId": "x"}) == {"success": True}
    sent = fake.requests[-1]
    assert (sent.method, sent.path, sent.body) == ("POST", "/v1/voicecall.end", {"callId": "x"})
    assert sent.headers["Content-Type"] == "application/json"


async def test_error_bodies_become_api_errors(env: Env, fake: FakeDaemon) -> None:
    fake.fail("voicecall.speak", ErrorCode.CONFLICT, "Already waiting for transcript")
    fake.on("POST", "/v1/voicecall.end", Reply(500, {"error": {"code": "brand_new"}}))
    client = ControlClient(env.socket, timeout=5)
    assert await in_thread(error_code, client.call, "voicecall.speak", {}) == (
        ErrorCode.CONFLICT, "Already waiting for transcript")
    code, _ = await in_thread(error_code, client.call, "voicecall.end", {})
    assert code is ErrorCode.INTERNAL


async def test_no_daemon(env: Env) -> None:
    client = ControlClient(env.socket, timeout=5)
    code, message = await in_thread(error_code, client.health)
    assert code is ErrorCode.DAEMON_NOT_RUNNING and str(env.socket) in message
    # A socket file left behind by a dead daemon: nothing listens on it.
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(env.socket))
    leftover.close()
    code, _ = await in_thread(error_code, client.health)
    assert code is ErrorCode.DAEMON_NOT_RUNNING


@pytest.mark.skipif(os.geteuid() == 0, reason="root is never refused by file permissions")
async def test_a_socket_of_another_user_is_permission_denied(env: Env, fake: FakeDaemon) -> None:
    os.chmod(env.socket, 0)
    code, _ = await in_thread(error_code, ControlClient(env.socket, timeout=5).health)
    assert code is ErrorCode.PERMISSION_DENIED


async def test_the_daemon_refusing_the_peer_is_permission_denied(env: Env,
                                                                 fake: FakeDaemon) -> None:
    err = ApiError(ErrorCode.PERMISSION_DENIED, "uid 1001 may not use this daemon")
    fake.on("GET", "/v1/health", Reply(err.http_status, err.to_body()))
    code, _ = await in_thread(error_code, ControlClient(env.socket, timeout=5).health)
    assert code is ErrorCode.PERMISSION_DENIED


async def test_slow_daemon_times_out(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, {"ok": True}, delay_s=2))
    code, _ = await in_thread(error_code, ControlClient(env.socket, timeout=0.2).health)
    assert code is ErrorCode.TIMEOUT


async def test_answers_outside_the_protocol_are_a_mismatch(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, {"ok": True}, protocol=None))
    fake.answer("voicecall.status", None, raw=b"not json")
    client = ControlClient(env.socket, timeout=5)
    assert (await in_thread(error_code, client.health))[0] is ErrorCode.PROTOCOL_MISMATCH
    assert (await in_thread(error_code, client.call, "voicecall.status", {}))[0] is (
        ErrorCode.PROTOCOL_MISMATCH)


@pytest.fixture
def not_http(env: Env) -> Iterator[Path]:
    """A server that answers every connection with a line that is not HTTP."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(env.socket))
    server.listen()
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield env.socket
    server.close()
    thread.join(5)


async def test_a_server_that_does_not_speak_http_is_a_mismatch(not_http: Path) -> None:
    code, _ = await in_thread(error_code, ControlClient(not_http, timeout=5).health)
    assert code is ErrorCode.PROTOCOL_MISMATCH


async def test_another_protocol_version_warns_once(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, {"ok": True}, protocol="7"))
    warnings: list[str] = []
    client = ControlClient(env.socket, timeout=5, on_warning=warnings.append)
    for _ in range(3):
        assert await in_thread(client.health) == {"ok": True}
    assert len(warnings) == 1 and "protocol 7" in warnings[0]


async def test_events_are_decoded_lines_until_the_stream_ends(env: Env, fake: FakeDaemon) -> None:
    lines = [{"type": "snapshot", "cursor": 1, "calls": []},
             {"cursor": 2, "ts": 5, "callId": None, "type": "daemon.stopping", "data": {}}]
    fake.on("GET", "/v1/events", Stream([*lines, b"", b"  "], hold=False))
    client = ControlClient(env.socket, timeout=5)
    assert await in_thread(lambda: list(client.events(since="all", call_id="c 1"))) == lines
    assert fake.requests[-1].query == {"since": "all", "callId": "c 1"}
