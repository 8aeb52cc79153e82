"""``voicecall daemon run|start|stop|restart|reload|status|logs``: the daemon's life cycle.

``run`` replaces this process with the daemon (``os.execv``: same PID, so systemd's
``Type=notify`` sees the daemon itself). ``start`` spawns it detached and waits until it
answers; ``stop`` asks it to stop (``daemon.stop``) and waits until it has exited; ``restart``
is ``stop`` then ``start`` (calls survive: the new daemon restores them from the store);
``reload`` makes it read its config file again (``daemon.reload``).
``logs`` prints ``daemon.log``, where ``start`` appends the daemon's output.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from voicecall_cli.cli import daemon_process
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.exit_codes import CliError, ExitCode
from voicecall_cli.cli.options import Seconds
from voicecall_cli.cli.output import (
    emit_bytes,
    emit_json,
    emit_json_line,
    json_option,
    note,
    render,
)
from voicecall_cli.protocol import ApiError, ErrorCode, ReloadRequest, StopRequest

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOG_LINES = 50
JOURNAL_PROBE_TIMEOUT_S = 0.5
MAX_WAIT_S = 3600.0  # --timeout: an hour is already far beyond any start or stop

config_option = click.option(
    "--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
    help="The config file for the daemon [default: the global --config].")
timeout_option = click.option(
    "--timeout", type=Seconds(MAX_WAIT_S), metavar="S",
    default=START_TIMEOUT_S, show_default=True, help="Seconds to wait for the daemon to answer.")


@click.group("daemon")
def command() -> None:
    """Run, start, stop, restart, reload or check the voicecall daemon, or show its log."""


@command.command("run")
@config_option
@click.pass_obj
def run(obj: CliContext, config_path: Path | None) -> None:
    """Run the daemon in the foreground (for systemd: Type=notify)."""
    argv = daemon_process.daemon_argv(obj, config_path)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


@command.command("start")
@config_option
@timeout_option
@json_option
@click.pass_obj
def start(obj: CliContext, config_path: Path | None, timeout: float, as_json: bool) -> None:
    """Start the daemon in the background and wait until it answers."""
    _show_health(_start(obj, config_path, timeout), as_json)


@command.command("stop")
@json_option
@click.pass_obj
def stop(obj: CliContext, as_json: bool) -> None:
    """Stop the daemon and wait until it has gone."""
    result = _stop(obj, daemon_process.probe(obj.client(daemon_process.PROBE_TIMEOUT_S)),
                   STOP_TIMEOUT_S)
    if as_json:
        emit_json(result)
    else:
        note("the daemon stopped")


@command.command("restart")
@config_option
@click.option("--timeout", type=Seconds(MAX_WAIT_S), metavar="S",
              default=START_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the old daemon to exit, and then for the new one to "
                   "answer.")
@json_option
@click.pass_obj
def restart(obj: CliContext, config_path: Path | None, timeout: float, as_json: bool) -> None:
    """Stop the daemon (if it runs), wait until it has exited, and start it again.

    Calls survive: the new daemon restores the live calls from its store. A daemon under
    systemd is restarted by systemd: systemctl --user restart voicecall.
    """
    health = daemon_process.probe(obj.client(daemon_process.PROBE_TIMEOUT_S))
    if health is None:
        note("the daemon was not running")
    else:
        unit = _systemd_unit(health)
        if unit is not None:
            raise CliError(f"the daemon (pid {health.get('pid')}) runs under systemd "
                           f"({unit[0]}); restart it there", ExitCode.FAILED,
                           f"systemctl{' --user' if unit[1] else ''} restart {unit[0]}")
        _stop(obj, health, timeout)
        note(f"the daemon stopped (pid {health.get('pid', '?')})")
    _show_health(_start(obj, config_path, timeout), as_json)


@command.command("reload")
@json_option
@click.pass_obj
def reload(obj: CliContext, as_json: bool) -> None:
    """Make the daemon read its config file again, without dropping calls.

    Speech, auto-response, outbound-rail, inbound-policy and call-timeout settings apply to new
    turns and new calls; settings that need a restart (provider and credentials, serve.*,
    controlSocket, store, tunnel, streaming endpoint) are named and left as they were. An
    invalid file is refused with its errors (exit 78) and the running config is kept. Under
    systemd: systemctl --user reload voicecall. With --json: {"ok", "applied", "needsRestart"}.
    """
    result = obj.rpc(ReloadRequest())
    if as_json:
        emit_json(result)
        return
    applied, restart = result.get("applied") or [], result.get("needsRestart") or []
    note("the daemon read its config again: "
         + (f"applied {', '.join(applied)}" if applied else "no setting that applies changed"))
    if restart:
        note(f"needs a restart to apply (kept as they were): {', '.join(restart)}\n"
             "restart with: voicecall daemon restart (live calls are restored)")


@command.command("status")
@json_option
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Show the daemon's health (exit 7 when it is not running)."""
    _show_health(obj.client(daemon_process.PROBE_TIMEOUT_S).health(), as_json)


@command.command("logs")
@click.option("-n", "--lines", type=click.IntRange(min=0), metavar="N", default=LOG_LINES,
              show_default=True, help="Show the last N lines.")
@click.option("-f", "--follow", is_flag=True,
              help="Then print what the daemon appends, until Ctrl-C.")
@json_option
@click.pass_obj
def logs(obj: CliContext, lines: int, follow: bool, as_json: bool) -> None:
    """Show the log of the daemon that `voicecall daemon start` started.

    The log is daemon.log in the state directory ($XDG_STATE_HOME/voicecall/). A daemon under
    systemd logs to the journal instead: journalctl --user -u voicecall. With --json: one
    {"path", "exists", "lines"} document, or with --follow one {"line"} object per line.
    """
    path = daemon_process.log_path()
    _note_journal(obj, path)
    try:
        _print_log(path, lines, follow, as_json)
    except BrokenPipeError:  # the reader left (| head): the root group's exit 141
        raise
    except OSError as exc:
        raise CliError(f"cannot read the daemon's log {path}: {exc.strerror or exc}") from exc


def _print_log(path: Path, lines: int, follow: bool, as_json: bool) -> None:
    try:
        data, offset = daemon_process.last_lines(path, lines)
        exists = True
    except FileNotFoundError:
        data, offset, exists = b"", 0, False
        note(f"no daemon log at {path}: only a daemon started with `voicecall daemon start` "
             "writes one\na daemon under systemd logs to the journal: "
             "journalctl --user -u voicecall")
        if follow:
            note("waiting for the log to appear (Ctrl-C to stop)")
    if as_json and not follow:
        emit_json({"path": str(path), "exists": exists,
                   "lines": data.decode("utf-8", "replace").splitlines()})
        return
    write = _JsonLines().write if as_json else emit_bytes
    write(data)
    if follow:
        for chunk in daemon_process.follow_log(path, offset):
            write(chunk)


class _JsonLines:
    """Log bytes -> one ``{"line": ...}`` NDJSON object per complete line."""

    def __init__(self) -> None:
        self.pending = b""

    def write(self, data: bytes) -> None:
        *complete, self.pending = (self.pending + data).split(b"\n")
        for raw in complete:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            emit_json_line(json.dumps({"line": line}, ensure_ascii=False).encode())


def _note_journal(obj: CliContext, path: Path) -> None:
    """Say so when the running daemon is under systemd: its output is not in ``path``."""
    try:
        health = daemon_process.probe(obj.client(JOURNAL_PROBE_TIMEOUT_S))
    except (ApiError, CliError):
        return
    unit = _systemd_unit(health) if health is not None else None
    if unit is not None:
        user = " --user" if unit[1] else ""
        note(f"the running daemon (pid {health.get('pid')}) runs under systemd ({unit[0]}): "
             f"its output is in the journal: journalctl{user} -u {unit[0]}; {path} holds "
             "only the output of daemons started with `voicecall daemon start`")


def _start(obj: CliContext, config_path: Path | None, timeout: float) -> dict[str, Any]:
    """Start a daemon unless one answers; its health (``start`` and ``restart``)."""
    client = obj.client(daemon_process.PROBE_TIMEOUT_S)
    health = daemon_process.probe(client)
    if health is not None:
        note(f"the daemon is already running (pid {health.get('pid', '?')}) on {obj.socket_path}")
        return health
    argv = daemon_process.daemon_argv(obj, config_path)
    spawned = daemon_process.spawn_detached(argv, daemon_process.log_path())
    health = daemon_process.wait_until_ready(spawned, obj.socket_path, timeout)
    note(f"the daemon started (pid {health.get('pid', spawned.process.pid)}); log: {spawned.log}")
    return health


def _stop(obj: CliContext, health: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    """Ask the daemon to stop; wait until its socket is quiet and its process has exited.

    ``health`` is what it answered before (None: it did not, and ``daemon.stop`` then fails
    with exit 7 as any command does). The answer to ``daemon.stop``.
    """
    try:
        result = obj.rpc(StopRequest())
    except ApiError as err:
        if health is None or err.code is not ErrorCode.DAEMON_NOT_RUNNING:
            raise
        result = {"ok": True}  # it went away on its own in between
    daemon_process.wait_until_gone(obj.socket_path, timeout)
    pid = health.get("pid") if health is not None else None
    if isinstance(pid, int) and pid != os.getpid():
        daemon_process.wait_until_exited(pid, timeout)
    return result


def _systemd_unit(health: dict[str, Any]) -> tuple[str, bool] | None:
    pid = health.get("pid")
    return daemon_process.systemd_unit(pid) if isinstance(pid, int) else None


def _show_health(health: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(health)
        return
    from voicecall_cli.cli.render import health_panel

    render(health_panel(health))
