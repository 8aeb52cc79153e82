"""Command lines the CLI must refuse itself, as usage errors (exit 2) and never as a crash or a
request: arguments that are not UTF-8, and numbers no option can mean (issue #14 items 2, 8).
Real ``voicecall`` processes, with the argv bytes a shell passes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicecall_cli.cli.exit_codes import ExitCode

NOT_UTF8 = b"caf\xe9"
HUGE = "9" * 5000


def voicecall(tmp_path: Path, *args: str | bytes) -> subprocess.CompletedProcess[str]:
    """The CLI against a socket nobody serves: whatever reaches the daemon exits 7."""
    return subprocess.run(
        [sys.executable, "-m", "voicecall_cli", "--socket", str(tmp_path / "none.sock"), *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "NO_COLOR": "1", "LC_ALL": "C.UTF-8"})


@pytest.mark.parametrize("argv", [
    ["call", "--to", "+15550001111", "--message", NOT_UTF8],
    ["speak", "abc", "--message", NOT_UTF8],
    ["continue", NOT_UTF8, "--message", "hi"],
    ["end", NOT_UTF8],
    ["status", "--call-id", NOT_UTF8],
    ["call", "--to", b"+1555\xff0001111", "--message", "hi"],
])
def test_arguments_that_are_not_utf8_are_a_usage_error(tmp_path: Path, argv) -> None:
    result = voicecall(tmp_path, *argv)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert "is not valid UTF-8 text" in result.stderr
    assert "Traceback" not in result.stderr and "daemon" not in result.stderr


def test_under_json_the_refusal_is_a_json_error(tmp_path: Path) -> None:
    result = voicecall(tmp_path, "call", "--message", NOT_UTF8, "--json")
    assert result.returncode == ExitCode.USAGE
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "usage" and "caf\\xe9" in error["message"]


@pytest.mark.parametrize(("argv", "says"), [
    (["tail", "--since", HUGE], "--since"),
    (["tail", "--since", "\uff13"], "--since"),
    (["continue", "abc", "-m", "hi", "--timeout", "nan"], "--timeout"),
    (["continue", "abc", "-m", "hi", "--timeout", "1e400"], "--timeout"),
    (["continue", "abc", "-m", "hi", "--timeout", "86401"], "--timeout"),
    (["calls", "--since", HUGE + "d"], "--since"),
    # (a config that does not exist: should the refusal be missing, nothing starts)
    (["daemon", "start", "--config", "/nonexistent/c.toml", "--timeout", "nan"], "--timeout"),
    (["daemon", "start", "--config", "/nonexistent/c.toml", "--timeout", "inf"], "--timeout"),
    (["daemon", "restart", "--config", "/nonexistent/c.toml", "--timeout", "nan"],
     "--timeout"),
    (["call", "--to", "+1555555012\uff13", "--message", "hi"], "E.164"),
])
def test_numbers_no_option_can_mean_are_usage_errors(tmp_path: Path, argv, says) -> None:
    result = voicecall(tmp_path, *argv)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr
