"""A daemon that cannot start says why in one line, with an exit code systemd will not
restart on, whether run in the foreground (`daemon run`) or detached (`daemon start`)."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from voicecall_cli.daemon.port_owner import listening_inodes, pid_listening_on

from .conftest import VOICECALL, Daemon

UNIT = Path(__file__).resolve().parents[2] / "daemon" / "voicecall.service"


def busy_port_daemon(daemon_factory) -> tuple[Daemon, socket.socket, int]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    daemon: Daemon = daemon_factory()
    daemon.config.write_text(daemon.config.read_text().replace("port = 0", f"port = {port}"))
    return daemon, taken, port


def run_cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(daemon.root / "xdg-state"), "NO_COLOR": "1"}
    return subprocess.run([*VOICECALL, "--socket", str(daemon.socket), "--config",
                           str(daemon.config), *args], capture_output=True, text=True,
                          timeout=60, env=env)


def test_busy_webhook_port_is_one_line_naming_the_key_and_the_owner(daemon_factory) -> None:
    daemon, taken, port = busy_port_daemon(daemon_factory)
    with taken:
        for command in (["daemon", "run"], ["daemon", "start", "--timeout", "30"]):
            proc = run_cli(daemon, *command)
            assert proc.returncode == 78, (command, proc.stderr)
            expected = (f"voicecall: serve.port {port} is in use (by pid {os.getpid()}); "
                        "set serve.port or stop the other server")
            assert expected in proc.stderr.splitlines(), (command, proc.stderr)
            assert "Traceback" not in proc.stderr and "Errno" not in proc.stderr
            assert proc.stdout == ""
    assert not daemon.socket.exists()


def test_the_unit_does_not_restart_on_the_start_up_exit_code() -> None:
    unit = UNIT.read_text()
    prevent = [line for line in unit.splitlines() if line.startswith("RestartPreventExitStatus=")]
    assert prevent and "78" in prevent[0].split("=", 1)[1].split()


def test_the_port_owner_is_found_from_proc() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        table = Path("/proc/net/tcp").read_text() if Path("/proc/net/tcp").exists() else ""
        if table:
            assert listening_inodes(table, port)
            assert pid_listening_on(port) == os.getpid()
    assert listening_inodes(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode\n"
        "   0: 0100007F:0D06 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 "
        "0 48213 1 0000000000000000 100 0 0 10 0\n"
        "   1: 0100007F:0D06 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000 "
        "0 48999 1 0000000000000000 20 4 30 10 -1\n", 3334) == {"48213"}
