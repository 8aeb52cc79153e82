"""``voicecall daemon logs [-f] [-n N]``: the end of daemon.log, following it, and no log at all.

Following runs ``voicecall`` as a process (it ends only on Ctrl-C or a closed pipe); every
read from it is bounded by a deadline.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import Env, run_cli
from voicecall_cli.cli.daemon_process import last_lines

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READ_TIMEOUT_S = 30.0  # a hang guard only


def log_file(env: Env) -> Path:
    return env.state_home / "voicecall" / "daemon.log"


def write_log(env: Env, data: bytes, mode: str = "ab") -> Path:
    path = log_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode) as fh:
        fh.write(data)
    return path


def numbered(first: int, last: int) -> bytes:
    return b"".join(b"line %d\n" % i for i in range(first, last + 1))


async def test_no_log_says_where_logs_go_and_exits_0(env: Env) -> None:
    result = await run_cli("daemon", "logs", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert str(log_file(env)) in result.stderr
    assert "journalctl --user -u voicecall" in result.stderr
    assert "Traceback" not in result.output
    as_json = await run_cli("daemon", "logs", "--json", socket=env.socket)
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"path": str(log_file(env)), "exists": False,
                                          "lines": []}


async def test_the_last_lines_default_50(env: Env) -> None:
    write_log(env, numbered(1, 120))
    result = await run_cli("daemon", "logs", socket=env.socket)
    assert result.exit_code == 0, result.output
    assert result.stdout.encode() == numbered(71, 120)
    three = await run_cli("daemon", "logs", "-n", "3", socket=env.socket)
    assert three.stdout.encode() == numbered(118, 120)
    none = await run_cli("daemon", "logs", "--lines", "0", socket=env.socket)
    assert none.exit_code == 0 and none.stdout == ""
    everything = await run_cli("daemon", "logs", "-n", "1000", socket=env.socket)
    assert everything.stdout.encode() == numbered(1, 120)
    bad = await run_cli("daemon", "logs", "-n", "-1", socket=env.socket)
    assert bad.exit_code == 2


async def test_json_lists_the_lines(env: Env) -> None:
    path = write_log(env, numbered(1, 5) + b"no newline yet")
    result = await run_cli("daemon", "logs", "-n", "2", "--json", socket=env.socket)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"path": str(path), "exists": True,
                                         "lines": ["line 5", "no newline yet"]}


def test_last_lines_reads_big_files_from_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(numbered(1, 30000))  # ~300 kB: several blocks back
    data, end = last_lines(path, 20000)
    assert data == numbered(10001, 30000) and end == path.stat().st_size
    assert last_lines(path, 1)[0] == b"line 30000\n"
    path.write_bytes(b"\n\nlast")
    assert last_lines(path, 2)[0] == b"\nlast"
    path.write_bytes(b"")
    assert last_lines(path, 5) == (b"", 0)


async def test_an_unreadable_log_is_one_message_and_exit_1(env: Env) -> None:
    log_file(env).mkdir(parents=True)  # not a file: reading fails as a permission error would
    result = await run_cli("daemon", "logs", socket=env.socket)
    assert result.exit_code == 1
    assert result.stderr.startswith("voicecall: cannot read the daemon's log")
    assert "Traceback" not in result.output


# -- following ------------------------------------------------------------------------------


def _read_until(pipe, buffer: bytes, wanted: bytes, timeout: float) -> bytes:
    """``buffer`` plus what ``pipe`` gives until ``wanted`` is in it (a hang guard of
    ``timeout`` seconds, never a timing check)."""
    deadline = time.monotonic() + timeout
    while wanted not in buffer:
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} in {buffer!r}"
        ready, _, _ = select.select([pipe], [], [], left)
        if ready:
            chunk = os.read(pipe.fileno(), 65536)
            assert chunk, f"pipe closed before {wanted!r}; got {buffer!r}"
            buffer += chunk
    return buffer


class Follower:
    """``voicecall daemon logs -f ...`` as a process, read with deadlines."""

    def __init__(self, env: Env, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicecall_cli", "--socket", str(env.socket), "daemon",
             "logs", "-f", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=PROJECT_ROOT, env={**os.environ, "NO_COLOR": "1"})
        self.buffer = b""
        self.err_buffer = b""  # stderr read so far by read_err_until

    def read_until(self, wanted: bytes, timeout: float = READ_TIMEOUT_S) -> bytes:
        assert self.proc.stdout is not None
        self.buffer = _read_until(self.proc.stdout, self.buffer, wanted, timeout)
        return self.buffer

    def read_err_until(self, wanted: bytes, timeout: float = READ_TIMEOUT_S) -> bytes:
        assert self.proc.stderr is not None
        self.err_buffer = _read_until(self.proc.stderr, self.err_buffer, wanted, timeout)
        return self.err_buffer

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=READ_TIMEOUT_S)
        return self.proc.returncode, (self.err_buffer + err).decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=READ_TIMEOUT_S)


def test_follow_prints_appended_output_until_ctrl_c(env: Env) -> None:
    path = write_log(env, numbered(1, 10))
    follower = Follower(env, "-n", "2")
    try:
        assert follower.read_until(b"line 10\n") == numbered(9, 10)
        write_log(env, b"line 11\nline 1")
        write_log(env, b"2\n")
        assert follower.read_until(b"line 12\n") == numbered(9, 12)
        # Rotated or truncated: read again from the start of the new file.
        path.write_bytes(b"fresh\n")
        follower.read_until(b"fresh\n")
        path.unlink()
        write_log(env, b"recreated\n")
        assert follower.read_until(b"recreated\n") == numbered(9, 12) + b"fresh\nrecreated\n"
        code, err = follower.interrupt()
    finally:
        follower.kill()
    assert code == 130
    assert "Traceback" not in err and "Aborted" not in err


def test_follow_waits_for_a_log_that_does_not_exist_yet(env: Env) -> None:
    follower = Follower(env, "--json")
    try:
        follower.read_err_until(b"waiting for the log")  # it started before the log existed
        write_log(env, b"started\npart")
        follower.read_until(b"\n")
        write_log(env, b"ial\n")
        out = follower.read_until(b"partial")
        code, err = follower.interrupt()
    finally:
        follower.kill()
    assert [json.loads(line) for line in out.splitlines()] == [{"line": "started"},
                                                              {"line": "partial"}]
    assert code == 130
    assert "journalctl --user -u voicecall" in err and "waiting for the log" in err


def test_a_reader_that_leaves_ends_the_follow_quietly(env: Env) -> None:
    write_log(env, numbered(1, 3))
    follower = Follower(env, "-n", "1")
    try:
        follower.read_until(b"line 3\n")
        assert follower.proc.stdout is not None
        follower.proc.stdout.close()  # as `| head -1` does
        deadline = time.monotonic() + READ_TIMEOUT_S
        while follower.proc.poll() is None and time.monotonic() < deadline:
            write_log(env, numbered(4, 4))
            time.sleep(0.1)
        assert follower.proc.stderr is not None
        code = follower.proc.wait(timeout=READ_TIMEOUT_S)
        err = follower.proc.stderr.read().decode()
    finally:
        if follower.proc.poll() is None:
            follower.proc.kill()
            follower.proc.wait(timeout=READ_TIMEOUT_S)
        if follower.proc.stderr is not None:
            follower.proc.stderr.close()
    assert code == 141  # as every command whose reader leaves
    assert err == ""
