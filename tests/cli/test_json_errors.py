"""Under --json every failure is exactly one JSON document on stdout, with the table's exit code.

Every command that takes --json is covered (a new one fails the inventory test until it is
added here), against every error kind: what the daemon reports, no daemon at all, a usage
error, a broken config file.
"""

from __future__ import annotations

import json

import click
import pytest

from tests.cli.conftest import Env, run_cli
from tests.cli.fake_daemon import FakeDaemon, Reply
from tests.cli.test_help import command_paths
from voicecall_cli.cli.exit_codes import EXIT_FOR_ERROR
from voicecall_cli.cli.main import cli
from voicecall_cli.protocol import ErrorCode

# Command -> (its argv, the RPC it sends), for the commands that ask the daemon something.
RPC_COMMANDS: dict[tuple[str, ...], tuple[list[str], str]] = {
    ("call",): (["call", "-m", "Hi"], "voicecall.initiate"),
    ("continue",): (["continue", "c1", "-m", "Ten?"], "voicecall.continue"),
    ("speak",): (["speak", "c1", "-m", "Bye"], "voicecall.speak"),
    ("dtmf",): (["dtmf", "c1", "--digits", "1#"], "voicecall.dtmf"),
    ("end",): (["end", "c1"], "voicecall.end"),
    ("status",): (["status", "c1"], "voicecall.status"),
    ("calls",): (["calls", "--state", "ended"], "voicecall.calls"),
    ("latency",): (["latency", "c1"], "voicecall.latency"),
    ("daemon", "stop"): (["daemon", "stop"], "daemon.stop"),
    ("daemon", "reload"): (["daemon", "reload"], "daemon.reload"),
    ("expose",): (["expose", "--mode", "serve"], "voicecall.expose"),
    ("smoke",): (["smoke", "--to", "+15550001111", "--yes"], "voicecall.initiate"),
}
# Commands that need a running daemon but send no RPC of their own.
DAEMON_COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("daemon", "status"): ["daemon", "status"],
    ("tail",): ["tail", "--since", "all", "--no-follow"],
}
# Commands that do not talk to the daemon: argv that makes each of them fail.
LOCAL_FAILURES: dict[tuple[str, ...], tuple[list[str], int, str]] = {
    ("config", "show"): (["config", "show"], 78, "config_error"),
    ("config", "validate"): (["config", "validate"], 78, "config_error"),
    ("config", "path"): (["config", "path", "--nonsense"], 2, "usage"),
    ("completion",): (["completion", "tcsh"], 2, "usage"),
    ("demo",): (["demo", "--carrier", "nowhere"], 2, "usage"),
    ("daemon", "logs"): (["daemon", "logs", "-n", "zero"], 2, "usage"),
    ("daemon", "start"): (["daemon", "start", "--timeout", "-1"], 2, "usage"),
    ("daemon", "restart"): (["daemon", "restart", "--timeout", "-1"], 2, "usage"),
    ("doctor",): (["doctor"], 1, "operation_failed"),
}
# Commands whose --json report is the document even when they fail.
REPORTS = {("config", "validate"), ("doctor",)}
HEALTH = {"ok": True, "version": "0.1.0", "protocol": 1, "pid": 1, "uptimeS": 5,
          "provider": "mock", "activeCalls": 0}
DAEMON_ERRORS = [ErrorCode.CALL_NOT_FOUND, ErrorCode.TIMEOUT, ErrorCode.CONFLICT,
                 ErrorCode.OPERATION_FAILED, ErrorCode.BAD_REQUEST, ErrorCode.CONFIG_ERROR,
                 ErrorCode.INTERNAL, ErrorCode.NOT_FOUND]


def the_error(stdout: str) -> dict:
    """stdout is exactly one JSON document holding an error object."""
    document = json.loads(stdout)
    error = document["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    assert error["message"]
    return error


def json_commands() -> set[tuple[str, ...]]:
    found = set()
    for path in command_paths():
        ctx = click.Context(cli, info_name="voicecall")
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.get_command(ctx, name)
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            found.add(tuple(path))
    return found


def test_every_json_command_is_covered() -> None:
    covered = set(RPC_COMMANDS) | set(DAEMON_COMMANDS) | set(LOCAL_FAILURES)
    assert json_commands() == covered


@pytest.mark.parametrize("code", DAEMON_ERRORS, ids=lambda c: c.value)
@pytest.mark.parametrize("command", sorted(RPC_COMMANDS), ids=" ".join)
async def test_a_daemon_error_is_one_json_document(env: Env, fake: FakeDaemon,
                                                   command: tuple[str, ...],
                                                   code: ErrorCode) -> None:
    argv, rpc = RPC_COMMANDS[command]
    fake.on("GET", "/v1/health", Reply(200, HEALTH))  # daemon stop looks before it asks
    fake.fail(rpc, code, f"the daemon says {code.value}")
    result = await run_cli(*argv, "--json", socket=env.socket)
    assert result.exit_code == EXIT_FOR_ERROR[code], result.output
    error = the_error(result.stdout)
    assert error["code"] == code.value
    assert f"voicecall: {error['message']}" in result.stderr


@pytest.mark.parametrize("command", sorted({*RPC_COMMANDS, *DAEMON_COMMANDS}), ids=" ".join)
async def test_no_daemon_is_one_json_document(env: Env, command: tuple[str, ...]) -> None:
    argv = RPC_COMMANDS[command][0] if command in RPC_COMMANDS else DAEMON_COMMANDS[command]
    result = await run_cli(*argv, "--json", socket=env.socket)
    assert result.exit_code == 7, result.output
    error = the_error(result.stdout)
    assert error["code"] == "daemon_not_running"
    assert error["hint"] == "start it with: voicecall daemon start"


@pytest.mark.parametrize("command", sorted(RPC_COMMANDS), ids=" ".join)
async def test_a_usage_error_is_one_json_document(env: Env, fake: FakeDaemon,
                                                  command: tuple[str, ...]) -> None:
    argv, _rpc = RPC_COMMANDS[command]
    for bad in (["--no-such-option", "--json"], ["--json", "--no-such-option"]):
        result = await run_cli(*argv, *bad, socket=env.socket)
        assert result.exit_code == 2, result.output
        assert the_error(result.stdout)["code"] == "usage"
    assert fake.requests == []


@pytest.mark.parametrize("command", sorted(LOCAL_FAILURES), ids=" ".join)
async def test_local_failures_are_one_json_document(env: Env, command: tuple[str, ...]) -> None:
    argv, exit_code, code = LOCAL_FAILURES[command]
    broken = env.root / "broken.toml"
    broken.write_text("provider = [\n")
    result = await run_cli("--config", str(broken), *argv, "--json")
    assert result.exit_code == exit_code, result.output
    document = json.loads(result.stdout)
    if command in REPORTS:  # the report is the document, an error beside it
        assert document["ok"] is False
        assert document.get("issues") or document.get("checks")
    else:
        assert the_error(result.stdout)["code"] == code
