"""Running the daemon as a process: the command line, a detached start, waiting on its socket.

The CLI never imports the daemon: it runs ``python -m voicecall_cli.daemon run --socket PATH
[--config PATH]`` with the interpreter it runs on. :func:`spawn_detached` leaves the child in
its own session with stdin on /dev/null and stdout/stderr appended to ``daemon.log`` in the
state directory; the caller owns the returned ``Popen`` only until the daemon answers (it then
outlives the CLI). Waits poll ``GET /v1/health`` with a short per-request timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecall_cli.cli.client import ControlClient
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.protocol import ApiError, ErrorCode, default_state_dir

DAEMON_MODULE = "voicecall_cli.daemon"
LOG_NAME = "daemon.log"
POLL_INTERVAL_S = 0.05
PROBE_TIMEOUT_S = 2.0


def daemon_argv(obj: CliContext, config_path: Path | None = None) -> list[str]:
    """The daemon's command line for the socket and config ``obj`` resolves.

    The config is passed when the user named it (option or environment) or when the default
    file exists; otherwise the daemon runs on its embedded defaults.
    """
    argv = [sys.executable, "-m", DAEMON_MODULE, "run"]
    config = config_path or obj.config_path
    if config_path is not None or obj.config_is_explicit or config.is_file():
        argv += ["--config", str(config)]
    argv += ["--socket", str(obj.socket_path)]
    return argv


def log_path(env: Mapping[str, str] = os.environ) -> Path:
    return default_state_dir(env) / LOG_NAME


@dataclass
class Spawned:
    process: subprocess.Popen[bytes]
    log: Path
    log_offset: int  # where this start's output begins in the log


def spawn_detached(argv: list[str], log: Path) -> Spawned:
    """Start ``argv`` in a new session, output appended to ``log`` (created 0600 in a 0700 dir)."""
    log.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as sink:
        offset = sink.seek(0, os.SEEK_END)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                   start_new_session=True, close_fds=True)
    return Spawned(process, log, offset)


def probe(client: ControlClient) -> dict[str, Any] | None:
    """The daemon's health, or None when no daemon answers; other failures raise ApiError."""
    try:
        return client.health()
    except ApiError as err:
        if err.code is ErrorCode.DAEMON_NOT_RUNNING:
            return None
        raise


def wait_until_ready(spawned: Spawned, socket_path: Path, timeout_s: float) -> dict[str, Any]:
    """Poll until the spawned daemon answers; its health.

    Raises CliError with the child's exit status (and the new part of its log on stderr via
    the message) when it exits first, or exit 5 when it has not answered in ``timeout_s``
    (the process is left running: it may still be starting).
    """
    client = ControlClient(socket_path, PROBE_TIMEOUT_S)
    deadline = time.monotonic() + timeout_s
    while True:
        status = spawned.process.poll()
        if status is not None:
            code = status if 0 < status < 256 else ExitCode.FAILED
            verdict = startup_verdict(spawned)
            if verdict is None:
                raise CliError(f"the daemon exited with status {status} while starting",
                               code, f"see the daemon's log: {spawned.log}")
            raise CliError(verdict, code, f"the daemon's log: {spawned.log}")
        health = probe(client)
        if health is not None:
            return health
        if time.monotonic() >= deadline:
            raise CliError(f"the daemon (pid {spawned.process.pid}) did not answer on "
                           f"{socket_path} within {timeout_s:g} s", ExitCode.TIMED_OUT,
                           f"it may still be starting; see {spawned.log}")
        time.sleep(POLL_INTERVAL_S)


def wait_until_gone(socket_path: Path, timeout_s: float) -> None:
    """Poll until nothing answers on ``socket_path``; exit 5 after ``timeout_s``.

    A daemon on its way out may accept a connection and close it unanswered: that counts as
    still there.
    """
    client = ControlClient(socket_path, PROBE_TIMEOUT_S)
    deadline = time.monotonic() + timeout_s
    while _still_there(client):
        if time.monotonic() >= deadline:
            raise CliError(f"the daemon still answers on {socket_path} after {timeout_s:g} s",
                           ExitCode.TIMED_OUT)
        time.sleep(POLL_INTERVAL_S)


def _still_there(client: ControlClient) -> bool:
    try:
        return probe(client) is not None
    except ApiError as err:
        if err.code is ErrorCode.OPERATION_FAILED:
            return True
        raise


def startup_verdict(spawned: Spawned) -> str | None:
    """What the spawned daemon said about why it stopped: its last ``voicecall: ...`` line
    on this start (with the indented detail lines that follow it, as a configuration error
    has), without the ``voicecall:`` prefix; None when it said nothing of the kind. A
    traceback in the log is never part of it."""
    try:
        with open(spawned.log, "rb") as fh:
            fh.seek(spawned.log_offset)
            new = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = new.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("voicecall: ")]
    if not starts:
        return None
    first = starts[-1]
    verdict = [lines[first].removeprefix("voicecall: ")]
    for line in lines[first + 1:]:
        if not line.startswith("  "):
            break
        verdict.append(line)
    return "\n".join(verdict)
