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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.client import ControlClient
from voicecall_cli.protocol import ApiError, ErrorCode, default_state_dir, open_private_append

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
    """Start ``argv`` in a new session, output appended to ``log`` (created 0600 in a 0700 dir).

    A log that cannot be created or opened (its state directory cannot be made) is a
    :class:`CliError` naming the path and ``XDG_STATE_HOME``, exit 78, before anything runs."""
    try:
        fd = open_private_append(log)
    except OSError as exc:
        raise CliError(f"the state directory {log.parent} cannot hold the daemon's log {log.name}"
                       f" ({exc.strerror or exc})", ExitCode.CONFIG_ERROR,
                       "set XDG_STATE_HOME to a directory you can write (or fix that one's "
                       "permissions)") from None
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


# -- after a stop: the process itself ---------------------------------------------------------


def process_exists(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # "pid (comm) S ...": the state follows the last ')' (comm may hold one).
    state = stat[stat.rfind(b")") + 1:].split()[:1]
    return state != [b"Z"] and state != [b"X"]


def wait_until_exited(pid: int, timeout_s: float) -> None:
    """Poll until process ``pid`` has exited (its webhook port and store are free then);
    exit 5 after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while process_exists(pid):
        if time.monotonic() >= deadline:
            raise CliError(f"the daemon (pid {pid}) has not exited {timeout_s:g} s after it "
                           "stopped answering", ExitCode.TIMED_OUT)
        time.sleep(POLL_INTERVAL_S)


def systemd_unit(pid: int) -> tuple[str, bool] | None:
    """``(unit, is_user_unit)`` when process ``pid`` runs in a voicecall systemd service (its
    cgroup), else None (no such process, no systemd, started by ``daemon start``)."""
    try:
        with open(f"/proc/{pid}/cgroup", encoding="utf-8", errors="replace") as fh:
            return unit_from_cgroup(fh.read())
    except OSError:
        return None


def unit_from_cgroup(text: str) -> tuple[str, bool] | None:
    """The voicecall service a ``/proc/PID/cgroup`` text names, as :func:`systemd_unit`."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        last = path.rstrip("/").rpartition("/")[2]
        if last.startswith("voicecall") and last.endswith(".service"):
            return last, "/user@" in path
    return None


# -- daemon.log --------------------------------------------------------------------------------

LOG_BLOCK = 64 * 1024
FOLLOW_INTERVAL_S = 0.2


def last_lines(path: Path, count: int) -> tuple[bytes, int]:
    """The last ``count`` lines of ``path`` as written (a final line without a newline counts)
    and the offset of the end of what was read, where following goes on. OSError as raised."""
    with open(path, "rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if count <= 0:
            return b"", end
        data = b""
        position = end
        # One newline more than lines wanted, unless the file starts first.
        while position > 0 and data.count(b"\n", 0, len(data) - 1) < count:
            step = min(LOG_BLOCK, position)
            position -= step
            fh.seek(position)
            data = fh.read(step) + data
    return b"".join(data.splitlines(keepends=True)[-count:]), end


def follow_log(path: Path, offset: int,
               interval_s: float = FOLLOW_INTERVAL_S) -> Iterator[bytes]:
    """What is appended to ``path`` from ``offset`` on, chunk by chunk, until the caller stops
    iterating (Ctrl-C). A file that is missing is waited for; one that is replaced or
    truncated is read again from its start. The open file is closed when the generator is."""
    fh = None
    try:
        while True:
            if fh is None:
                try:
                    fh = open(path, "rb")  # noqa: SIM115 - held across yields, closed below
                except FileNotFoundError:
                    time.sleep(interval_s)
                    offset = 0
                    continue
                if offset > os.fstat(fh.fileno()).st_size:
                    offset = 0
                fh.seek(offset)
            chunk = fh.read(LOG_BLOCK)
            if chunk:
                yield chunk
                continue
            if _replaced(path, fh):
                fh.close()
                fh, offset = None, 0
                continue
            time.sleep(interval_s)
    finally:
        if fh is not None:
            fh.close()


def _replaced(path: Path, fh: Any) -> bool:
    """Whether ``path`` is no longer the open file ``fh``, or was cut shorter than read."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return True
    mine = os.fstat(fh.fileno())
    return (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev) or now.st_size < fh.tell()
