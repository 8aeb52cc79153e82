"""``voicecall daemon run|start|stop|status``: the daemon's life cycle, from the outside.

``run`` replaces this process with the daemon (``os.execv``: same PID, so systemd's
``Type=notify`` sees the daemon itself). ``start`` spawns it detached and waits until it
answers; ``stop`` asks it to stop (``daemon.stop``) and waits until the socket goes quiet.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from voicecall_cli.cli import daemon_process
from voicecall_cli.cli.context import CliContext
from voicecall_cli.cli.output import emit_json, json_option, note, render
from voicecall_cli.protocol import StopRequest

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

config_option = click.option(
    "--config", "config_path", metavar="PATH", type=click.Path(dir_okay=False, path_type=Path),
    help="The config file for the daemon [default: the global --config].")


@click.group("daemon")
def command() -> None:
    """Run, start, stop or check the voicecall daemon."""


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
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              default=START_TIMEOUT_S, show_default=True,
              help="Seconds to wait for the daemon to answer.")
@json_option
@click.pass_obj
def start(obj: CliContext, config_path: Path | None, timeout: float, as_json: bool) -> None:
    """Start the daemon in the background and wait until it answers."""
    client = obj.client(daemon_process.PROBE_TIMEOUT_S)
    health = daemon_process.probe(client)
    if health is not None:
        note(f"the daemon is already running (pid {health.get('pid', '?')}) on {obj.socket_path}")
    else:
        argv = daemon_process.daemon_argv(obj, config_path)
        spawned = daemon_process.spawn_detached(argv, daemon_process.log_path())
        health = daemon_process.wait_until_ready(spawned, obj.socket_path, timeout)
        note(f"the daemon started (pid {health.get('pid', spawned.process.pid)}); "
             f"log: {spawned.log}")
    _show_health(health, as_json)


@command.command("stop")
@json_option
@click.pass_obj
def stop(obj: CliContext, as_json: bool) -> None:
    """Stop the daemon and wait until it has gone."""
    result = obj.rpc(StopRequest())
    daemon_process.wait_until_gone(obj.socket_path, STOP_TIMEOUT_S)
    if as_json:
        emit_json(result)
    else:
        note("the daemon stopped")


@command.command("status")
@json_option
@click.pass_obj
def status(obj: CliContext, as_json: bool) -> None:
    """Show the daemon's health (exit 7 when it is not running)."""
    _show_health(obj.client(daemon_process.PROBE_TIMEOUT_S).health(), as_json)


def _show_health(health: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(health)
        return
    from voicecall_cli.cli.render import health_panel

    render(health_panel(health))

