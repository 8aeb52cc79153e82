"""Each command against a fake control server: what it sends, what it prints, how it exits."""

from __future__ import annotations

import json

import pytest

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon, Reply
from voicecall_cli.protocol import ErrorCode

CALL = {
    "callId": "c0ffee00-1111-2222-3333-444455556666", "providerCallId": "mock-1",
    "provider": "mock", "direction": "outbound", "state": "listening", "from": "+15550000000",
    "to": "+15550001111", "startedAt": 1_700_000_000_000, "answeredAt": 1_700_000_002_000,
    "endedAt": None, "endReason": None,
    "transcript": [{"timestamp": 1_700_000_003_000, "speaker": "bot", "text": "Hi there",
                    "isFinal": True},
                   {"timestamp": 1_700_000_005_000, "speaker": "user", "text": "Hello back",
                    "isFinal": True}],
    "metadata": {"mode": "conversation"},
}
HEALTH = {"ok": True, "version": "0.1.0", "protocol": 1, "pid": 4242, "uptimeS": 75,
          "provider": "mock", "webhookUrl": "http://127.0.0.1:4321/voice/webhook",
          "publicUrl": None, "streamUrl": None, "activeCalls": 1}


def one_json_document(stdout: str) -> object:
    """stdout holds exactly one JSON document and nothing else."""
    return json.loads(stdout)


async def test_call_json_and_human(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.initiate", {"callId": "abc-123", "initiated": True})
    result = await run_cli("call", "--to", "+15550001111", "-m", " Hi ", "--mode", "notify",
                           "--json", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert one_json_document(result.stdout) == {"callId": "abc-123", "initiated": True}
    assert fake.bodies("/v1/voicecall.initiate") == [
        {"to": "+15550001111", "message": "Hi", "mode": "notify", "origin": "cli"}]

    human = await run_cli("call", "--message", "Hello", socket=env.socket)
    assert human.exit_code == 0
    assert human.stdout == "abc-123\n"  # so that id=$(voicecall call ...) works
    assert fake.bodies("/v1/voicecall.initiate")[-1] == {"message": "Hello", "origin": "cli"}


async def test_call_sends_the_idempotency_key_and_prints_the_daemons_answer(
        env: Env, fake: FakeDaemon) -> None:
    replayed = {"callId": "abc-123", "initiated": True, "replayed": True}
    fake.answer("voicecall.initiate", replayed)
    result = await run_cli("call", "-m", "Hi", "--idempotency-key", "order-7", "--json",
                           socket=env.socket)
    assert result.exit_code == 0, result.output
    assert one_json_document(result.stdout) == replayed
    assert fake.bodies("/v1/voicecall.initiate") == [
        {"message": "Hi", "idempotencyKey": "order-7", "origin": "cli"}]
    bad = await run_cli("call", "-m", "Hi", "--idempotency-key", "tab\there", socket=env.socket)
    assert bad.exit_code == 2 and "idempotencyKey must be 1 to 200" in bad.stderr


async def test_continue_sends_timeout_and_prints_transcript(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.continue", {"success": True, "transcript": "Yes, ten works."})
    result = await run_cli("continue", "--call-id", "c1", "--message", "Ten?", "--timeout",
                           "2.5", "--json", socket=env.socket)
    assert result.exit_code == 0
    assert one_json_document(result.stdout) == {"success": True, "transcript": "Yes, ten works."}
    assert fake.bodies("/v1/voicecall.continue") == [
        {"callId": "c1", "message": "Ten?", "timeoutMs": 2500}]
    human = await run_cli("continue", "--call-id", "c1", "-m", "Ten?", socket=env.socket)
    assert human.stdout == "Yes, ten works.\n"
    assert fake.bodies("/v1/voicecall.continue")[-1] == {"callId": "c1", "message": "Ten?"}


@pytest.mark.parametrize(("args", "rpc", "body"), [
    (["speak", "--call-id", "c1", "-m", "Bye"], "voicecall.speak",
     {"callId": "c1", "message": "Bye"}),
    (["end", "--call-id", "c1"], "voicecall.end", {"callId": "c1"}),
])
async def test_speak_and_end(env: Env, fake: FakeDaemon, args: list[str], rpc: str,
                             body: dict) -> None:
    fake.answer(rpc, {"success": True})
    result = await run_cli(*args, "--json", socket=env.socket)
    assert result.exit_code == 0
    assert one_json_document(result.stdout) == {"success": True}
    assert fake.bodies(f"/v1/{rpc}") == [body]
    human = await run_cli(*args, socket=env.socket)
    assert human.exit_code == 0 and human.stdout == "" and "c1" in human.stderr


async def test_status_of_one_call(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"found": True, "call": CALL})
    result = await run_cli("status", "--call-id", CALL["callId"], "--json", socket=env.socket)
    assert result.exit_code == 0
    assert one_json_document(result.stdout) == {"found": True, "call": CALL}
    assert fake.bodies("/v1/voicecall.status") == [{"callId": CALL["callId"]}]

    human = await run_cli("status", CALL["callId"], socket=env.socket)  # the bench's form
    assert human.exit_code == 0
    for shown in (CALL["callId"], "listening", "+15550001111", "Hi there", "Hello back"):
        assert shown in human.stdout


async def test_status_of_unknown_call_exits_3(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"found": False})
    result = await run_cli("status", "--call-id", "nope", socket=env.socket)
    assert result.exit_code == 3
    assert "voicecall: no such call: nope" in result.stderr
    as_json = await run_cli("status", "--call-id", "nope", "--json", socket=env.socket)
    assert as_json.exit_code == 3
    assert one_json_document(as_json.stdout) == {
        "found": False, "error": {"code": "call_not_found", "message": "no such call: nope"}}


async def test_status_lists_active_calls(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": [CALL]})
    result = await run_cli("status", "--json", socket=env.socket)
    assert one_json_document(result.stdout) == {"calls": [CALL]}
    assert fake.bodies("/v1/voicecall.status") == [{}]
    human = await run_cli("status", socket=env.socket)
    assert human.exit_code == 0 and CALL["callId"] in human.stdout
    fake.answer("voicecall.status", {"calls": []})
    empty = await run_cli("status", socket=env.socket)
    assert empty.exit_code == 0 and "no active calls" in empty.stdout


@pytest.mark.parametrize(("code", "exit_code"), [
    (ErrorCode.CALL_NOT_FOUND, 3),
    (ErrorCode.TIMEOUT, 5),
    (ErrorCode.CONFLICT, 6),
    (ErrorCode.OPERATION_FAILED, 1),
    (ErrorCode.BAD_REQUEST, 2),
    (ErrorCode.CONFIG_ERROR, 78),
    (ErrorCode.NOT_FOUND, 8),
])
async def test_daemon_errors_map_to_exit_codes(env: Env, fake: FakeDaemon, code: ErrorCode,
                                               exit_code: int) -> None:
    fake.fail("voicecall.continue", code, "Timed out waiting for transcript after 10ms")
    result = await run_cli("continue", "--call-id", "c9", "-m", "Hi?", "--json",
                           socket=env.socket)
    assert result.exit_code == exit_code
    error = one_json_document(result.stdout)["error"]
    assert error["code"] == code.value
    assert result.stderr.startswith(f"voicecall: {error['message']}\n")
    if code is ErrorCode.CALL_NOT_FOUND:
        assert "no such call: c9" in result.stderr
    else:
        assert "Timed out waiting for transcript" in result.stderr


async def test_no_daemon_exits_7_with_the_hint(env: Env) -> None:
    for args in (["status", "--json"], ["call", "-m", "hi"], ["daemon", "status"],
                 ["daemon", "stop"], ["tail", "--json"]):
        result = await run_cli(*args, socket=env.socket)
        assert result.exit_code == 7, (args, result.output)
        if "--json" in args:
            error = one_json_document(result.stdout)["error"]
            assert error["code"] == "daemon_not_running"
            assert "voicecall daemon start" in error["hint"]
        else:
            assert result.stdout == ""
        assert "voicecall daemon start" in result.stderr


async def test_a_server_that_is_not_the_daemon_exits_8(env: Env, fake: FakeDaemon) -> None:
    fake.on("POST", "/v1/voicecall.status", Reply(200, raw=b"<html>hello</html>",
                                                   protocol=None))
    result = await run_cli("status", "--json", socket=env.socket)
    assert result.exit_code == 8
    assert "does not speak the voicecall control protocol" in result.stderr
    assert one_json_document(result.stdout)["error"]["code"] == "protocol_mismatch"


async def test_usage_errors_exit_2_without_contacting_the_daemon(env: Env,
                                                                 fake: FakeDaemon) -> None:
    for args in (["call"], ["call", "-m", "x", "--mode", "shout"], ["continue", "--call-id", "c"],
                 ["continue", "--call-id", "c", "-m", "x", "--timeout", "0"],
                 ["call", "-m", "   "], ["tail", "--since", "yesterday"], ["nonsense"]):
        result = await run_cli(*args, socket=env.socket)
        assert result.exit_code == 2, (args, result.output)
    assert fake.requests == []


async def test_daemon_status_and_start_when_running(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, HEALTH))
    status = await run_cli("daemon", "status", "--json", socket=env.socket)
    assert status.exit_code == 0 and one_json_document(status.stdout) == HEALTH
    human = await run_cli("daemon", "status", socket=env.socket)
    assert "4242" in human.stdout and "mock" in human.stdout
    start = await run_cli("daemon", "start", "--json", socket=env.socket)
    assert start.exit_code == 0
    assert one_json_document(start.stdout) == HEALTH
    assert "already running" in start.stderr


async def test_daemon_stop_waits_until_the_socket_is_gone(env: Env, fake: FakeDaemon) -> None:
    fake.on("GET", "/v1/health", Reply(200, HEALTH))
    fake.on("POST", "/v1/daemon.stop", Reply(200, {"ok": True}, after=fake.stop_soon))
    result = await run_cli("daemon", "stop", "--json", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert one_json_document(result.stdout) == {"ok": True}
    assert not env.socket.exists()


async def test_protocol_version_mismatch_warns_once(env: Env, fake: FakeDaemon) -> None:
    fake.answer("voicecall.status", {"calls": []}, protocol="2")
    result = await run_cli("status", "--json", socket=env.socket)
    assert result.exit_code == 0
    assert one_json_document(result.stdout) == {"calls": []}
    assert result.stderr.count("protocol 2") == 1
