"""``voicecall tail`` against a fake event stream that stays open like a live daemon's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon, Recorded, Reply, Stream
from voicecall_cli.cli.commands import tail
from voicecall_cli.protocol import ApiError, ErrorCode

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Spacing and key order unlike json.dumps' default: the CLI must copy lines, not re-encode.
SNAPSHOT = b'{ "type" :"snapshot","cursor":5, "calls":[{"callId":"call-a","state":"active"}]}'
BACKLOG = [
    b'{"cursor":3,"ts":1700000000000,"callId":"call-a","type":"call.state",'
    b'"data":{"state":"active","previous":"answered"}}',
    b'{"cursor":4,"ts":1700000001000,"callId":null,"type":"daemon.started","data":{"pid":7}}',
    b'{"cursor":5 ,"ts":1700000002000,"callId":"call-a","type":"call.transcript",'
    b'"data":{"speaker":"user","text":"h\\u00e9llo","isFinal":true}}',
]
LIVE = b'{"cursor":6,"ts":1700000003000,"callId":"call-a","type":"call.ended","data":{}}'


def stdout_lines(stdout: str) -> list[bytes]:
    return [line.encode() for line in stdout.splitlines()]


async def test_json_backlog_is_copied_verbatim_and_no_follow_stops(env: Env,
                                                                   fake: FakeDaemon) -> None:
    # The stream stays open after the backlog: the CLI must stop by itself at cursor 5.
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, *BACKLOG, LIVE]))
    result = await run_cli("tail", "--since", "2", "--no-follow", "--json", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert stdout_lines(result.stdout) == [SNAPSHOT, *BACKLOG]
    assert fake.requests[0].query == {"since": "2"}


async def test_no_follow_without_since_prints_the_snapshot_only(env: Env,
                                                                fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, LIVE]))
    result = await run_cli("tail", "--no-follow", "--json", socket=env.socket)
    assert result.exit_code == 0
    assert stdout_lines(result.stdout) == [SNAPSHOT]
    assert fake.requests[0].query == {}


async def test_since_at_the_newest_cursor_has_no_backlog(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, LIVE]))
    result = await run_cli("tail", "--since", "5", "--no-follow", "--json", socket=env.socket)
    assert result.exit_code == 0
    assert stdout_lines(result.stdout) == [SNAPSHOT]


async def test_a_heartbeat_ends_a_filtered_backlog(env: Env, fake: FakeDaemon) -> None:
    heartbeat = b'{"type":"heartbeat","cursor":3,"ts":1700000009000}'
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, BACKLOG[0], heartbeat, LIVE]))
    result = await run_cli("tail", "--since", "all", "--call-id", "call-a", "--no-follow",
                           "--json", socket=env.socket)
    assert result.exit_code == 0
    assert stdout_lines(result.stdout) == [SNAPSHOT, BACKLOG[0], heartbeat]
    assert fake.requests[0].query == {"since": "all", "callId": "call-a"}


async def test_lagged_exits_1_telling_how_to_resume(env: Env, fake: FakeDaemon) -> None:
    lagged = b'{"type":"lagged","cursor":6}'
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, LIVE, lagged], hold=False))
    result = await run_cli("tail", "--json", socket=env.socket)
    assert result.exit_code == 1
    assert stdout_lines(result.stdout) == [SNAPSHOT, LIVE, lagged]
    assert "voicecall tail --since 6" in result.stderr


async def test_a_daemon_that_stays_away_ends_tail_with_exit_7_and_the_resume_cursor(
        env: Env, fake: FakeDaemon, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stream ends and the daemon is gone; 60 s of retries shortened to 1 s for the test.
    monkeypatch.setattr(tail, "RECONNECT_FOR_S", 1.0)
    served: list[Recorded] = []

    def subscribe(request: Recorded) -> Stream:
        served.append(request)
        if len(served) > 1:
            return Stream([], hold=False)  # the daemon went away while we reconnected
        fake.stop_soon()
        return Stream([SNAPSHOT, LIVE], hold=False)

    fake.on("GET", "/v1/events", subscribe)
    result = await run_cli("tail", "--json", socket=env.socket)
    assert result.exit_code == 7
    assert stdout_lines(result.stdout) == [SNAPSHOT, LIVE]
    assert result.stderr.count("reconnecting for up to 1 s") == 1
    assert "did not come back within 1 s" in result.stderr
    assert "voicecall tail --since 6" in result.stderr
    assert all(r.query == {"since": "6"} for r in served[1:])


async def test_no_follow_never_reconnects(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, BACKLOG[0]], hold=False))
    result = await run_cli("tail", "--since", "2", "--no-follow", "--json", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert stdout_lines(result.stdout) == [SNAPSHOT, BACKLOG[0]]
    assert len(fake.requests) == 1 and result.stderr == ""


async def test_a_rejected_subscription_maps_to_its_exit_code(env: Env, fake: FakeDaemon) -> None:
    err = ApiError(ErrorCode.BAD_REQUEST, "since must be a cursor")
    fake.on("GET", "/v1/events", Reply(err.http_status, err.to_body()))
    result = await run_cli("tail", "--since", "3", "--json", socket=env.socket)
    assert result.exit_code == 2
    assert "since must be a cursor" in result.stderr
    assert json.loads(result.stdout) == {"error": {"code": "bad_request",
                                                   "message": "since must be a cursor"}}


async def test_human_output_off_a_terminal_is_a_table_then_log_lines(env: Env,
                                                                     fake: FakeDaemon) -> None:
    created = {"cursor": 6, "ts": 1_700_000_003_000, "callId": "call-b", "type": "call.created",
               "data": {"direction": "inbound", "from": "+15550002222", "to": "+15550000000",
                        "mode": "conversation", "provider": "mock"}}
    heartbeat = {"type": "heartbeat", "cursor": 6, "ts": 1_700_000_004_000}
    fake.on("GET", "/v1/events", Stream([SNAPSHOT, *BACKLOG, created, heartbeat]))
    result = await run_cli("tail", "--since", "2", "--no-follow", socket=env.socket)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "call-a" in out and "active calls" in out
    assert "user: héllo" in out and "daemon.started" in out
    assert "call-b" not in out  # after the backlog: --no-follow stopped before it
    assert not any(line.startswith("{") for line in out.splitlines())
    assert "\x1b" not in out


async def test_human_output_off_a_terminal_is_never_wrapped_or_cut(env: Env,
                                                                   fake: FakeDaemon) -> None:
    call_id = "3f2a9c1e-5b7d-4c2a-9e1f-0a1b2c3d4e5f"
    words = " ".join(f"word{n}" for n in range(60))  # ~420 characters, one utterance
    said = {"cursor": 6, "ts": 1_700_000_003_000, "callId": call_id,
            "type": "call.transcript", "data": {"speaker": "user", "text": words}}
    heartbeat = {"type": "heartbeat", "cursor": 6, "ts": 1_700_000_004_000}
    snapshot = {"type": "snapshot", "cursor": 6, "calls": [
        {"callId": call_id, "state": "listening", "direction": "inbound",
         "from": "+441234567890123", "to": "+861391234567890", "startedAt": 1_700_000_000_000,
         "metadata": {"mode": "conversation"}}]}
    fake.on("GET", "/v1/events", Stream([snapshot, said, heartbeat]))
    result = await run_cli("tail", "--since", "5", "--no-follow", socket=env.socket)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    [table_row] = [line for line in lines if line.startswith(call_id)]
    assert "listening" in table_row and "conversation" in table_row
    [event_row] = [line for line in lines if "call.transcript" in line]
    assert event_row.split()[1] == call_id and event_row.endswith(f"user: {words}")
    assert "\x1b" not in result.stdout and "…" not in result.stdout


def test_ctrl_c_exits_130_quietly(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/events", Stream([SNAPSHOT]))
    proc = subprocess.Popen([sys.executable, "-m", "voicecall_cli", "--socket", str(env.socket),
                             "tail", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=PROJECT_ROOT)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().rstrip(b"\n") == SNAPSHOT  # subscribed, following
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == 130
    assert stderr == b""
